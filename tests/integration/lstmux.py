"""Driving loadscope's dashboard through tmux, as a person would.

tmux runs on a private socket named after the test process, so tests never
touch a user's tmux; a test kills its server at the end (tmux("kill-server")).
The pane is target "t"; the shell in it uses PROMPT so a test can tell when it
is back at the prompt, and tests echo "LSEXIT=$?" after loadscope exits.
"""
import os
import re
import subprocess
import time

SOCK = "lstest-%d" % os.getpid()
PROMPT = "lsprompt$"


def tmux(*args, check_rc=True):
    p = subprocess.run(["tmux", "-L", SOCK] + list(args), capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError("tmux %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


def screen():
    return tmux("capture-pane", "-p", "-t", "t").split("\n")[:-1]


def wait_for(pred, what, timeout=30):
    """Polls the screen until pred(lines) holds; prints the screen and raises after timeout s."""
    deadline = time.monotonic() + timeout
    lines = screen()
    while time.monotonic() < deadline:
        lines = screen()
        if pred(lines):
            return lines
        time.sleep(0.1)
    print("\n".join(lines))
    raise RuntimeError("timed out waiting for " + what)


def has(text):
    return lambda lines: any(text in l for l in lines)


def exited(lines):
    """The shell printed loadscope's exit status (not the echo in the typed command)."""
    return any(re.match(r"^LSEXIT=\d+$", l.strip()) for l in lines)


def keys(*k):
    tmux("send-keys", "-t", "t", *k)


def typeline(text):
    tmux("send-keys", "-t", "t", "-l", text)
    tmux("send-keys", "-t", "t", "Enter")
