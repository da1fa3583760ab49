import os
import sys


def read_lines(path):
    """Return the lines of a text file, without their newlines."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def count_words(lines):
    """Count how often each word occurs in the lines."""
    counts = {}
    for line in lines:
        for word in line.split():
            
