"""The shell around the core: files, storage, reports, processes and the command line.

Shell modules import the core; the core never imports the shell.
"""
