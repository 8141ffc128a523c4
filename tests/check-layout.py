#!/usr/bin/env python3
"""check-layout.py — no cycle between the source files of src/ and tool/.

A file depends on another when it calls a function the other defines (or,
in tool/, includes its header). Every arrow must point down: this fails,
naming the cycle, when two files reach each other.
Usage: tests/check-layout.py [DIR...]   (default: src tool)"""
import os, re, sys

DEFINITION = re.compile(r'^[A-Za-z_][\w \*]*?\b([a-z_][a-z0-9_]*)\([^;]*$', re.M)
CALL = re.compile(r'\b([a-z_][a-z0-9_]*)\s*\(')
INCLUDE = re.compile(r'#include "([\w/.-]+)\.h"')

def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)

def graph(directories):
    files = {}
    for d in directories:
        for name in sorted(os.listdir(d)):
            if name.endswith('.c'):
                path = os.path.join(d, name)
                files[path] = strip_comments(open(path).read())
    defined = {}
    for path, text in files.items():
        for m in DEFINITION.finditer(text):
            defined.setdefault(m.group(1), path)
    edges = {path: set() for path in files}
    for path, text in files.items():
        for m in CALL.finditer(text):
            other = defined.get(m.group(1))
            if other and other != path:
                edges[path].add(other)
        for m in INCLUDE.finditer(text):
            other = os.path.join(os.path.dirname(path), m.group(1) + '.c')
            if other in files and other != path:
                edges[path].add(other)
    return edges

def find_cycle(edges):
    state, stack = {}, []
    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None
    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None

def main():
    directories = sys.argv[1:] or ['src', 'tool']
    edges = graph(d for d in directories if os.path.isdir(d))
    cycle = find_cycle(edges)
    if cycle:
        print('layout: a cycle between files: ' + ' -> '.join(cycle))
        return 1
    print('layout: %d files in %s, no cycle' % (len(edges), ' '.join(directories)))
    return 0

sys.exit(main())
