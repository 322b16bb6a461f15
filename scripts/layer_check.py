#!/usr/bin/env python3
"""The layer check: every project include ("folder/file.h") in a layer's sources must be
of its own layer or one its line in the table allows (scripts/layers.txt), and a layer's
internal/ headers are its own. Each layer folder's CMakeLists.txt states the same in a
"# May include:" line. Prints each include that crosses a layer the wrong way (file:line,
what it includes, what the layer may include) and each folder that states otherwise, and
exits 1; exits 0 when there is none, 2 for a bad table or root.

Usage: layer_check.py [--root DIR] [--table FILE]"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = ('.h', '.hpp', '.cc', '.cpp', '.c')


def read_table(path):
    layers = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if ':' not in line:
                raise ValueError('%s:%d: expected "layer: allowed ...", got %r' % (path, n, line))
            layer, allowed = line.split(':', 1)
            layer = layer.strip().rstrip('/')
            if not layer or layer in layers:
                raise ValueError('%s:%d: layer %r is empty or listed twice' % (path, n, layer))
            layers[layer] = allowed.split()
    return layers


def layer_of(path, layers):
    """The longest layer folder `path` (relative, with /) lies in, or None."""
    best = None
    for layer in layers:
        if path == layer or path.startswith(layer + '/'):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def allowed(to, target, allowed_list):
    """Whether an include of `target` (in layer `to`) is one `allowed_list` names: a layer,
    a folder holding layers (compiler: every compiler/... layer) or the header itself."""
    return any(to == a or to.startswith(a + '/') or target == a for a in allowed_list)


def private(target, to, layer, allowed_list):
    """Whether `target` is an internal/ header of another layer `to` that the table does not
    name: a layer's internal/ headers are its own unless a line allows one by name."""
    return 'internal' in target.split('/')[:-1] and to != layer and target not in allowed_list


def check(root, layers):
    violations, files, includes = [], 0, 0
    for layer in sorted(layers):
        top = os.path.join(root, layer)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, '/')
                if layer_of(rel, layers) != layer:
                    continue  # a nested layer's file: checked as that layer
                files += 1
                with open(path, errors='replace') as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or '/' not in m.group(1):
                            continue
                        target = m.group(1)
                        to = layer_of(target, layers)
                        if to is None:
                            continue  # not a project header
                        includes += 1
                        if to == layer or allowed(to, target, layers[layer]):
                            if not private(target, to, layer, layers[layer]):
                                continue
                            violations.append('%s:%d: includes "%s": an internal/ header of layer %s, private to it' % (
                                rel, n, target, to))
                            continue
                        violations.append('%s:%d: includes "%s": layer %s may include only %s' % (
                            rel, n, target, layer, ' '.join([layer] + layers[layer])))
    return violations, files, includes


MAY_INCLUDE = re.compile(r'^#\s*May include:(.*)$')


def check_folders(root, layers):
    """Each layer folder with a CMakeLists.txt states what it may include there, in a
    `# May include: ...` line ("(...)" for nothing), and says what the table says."""
    problems = []
    for layer in sorted(layers):
        path = os.path.join(root, layer, 'CMakeLists.txt')
        if not os.path.isfile(path):
            continue
        stated = None
        with open(path, errors='replace') as f:
            for line in f:
                m = MAY_INCLUDE.match(line.strip())
                if m:
                    stated = re.sub(r'\([^)]*\)', '', m.group(1)).split()
                    break
        rel = '%s/CMakeLists.txt' % layer
        if stated is None:
            problems.append('%s: no "# May include:" line stating what layer %s may include' % (rel, layer))
        elif sorted(stated) != sorted(layers[layer]):
            problems.append('%s: says layer %s may include "%s"; the table says "%s"' % (
                rel, layer, ' '.join(stated), ' '.join(layers[layer])))
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=os.path.dirname(here))
    ap.add_argument('--table', default=None, help='default: ROOT/scripts/layers.txt')
    args = ap.parse_args()
    table = args.table or os.path.join(args.root, 'scripts', 'layers.txt')
    try:
        layers = read_table(table)
    except (OSError, ValueError) as e:
        print('layer_check: %s' % e, file=sys.stderr)
        return 2
    if not os.path.isdir(args.root):
        print('layer_check: no folder %s' % args.root, file=sys.stderr)
        return 2
    violations, files, includes = check(args.root, layers)
    folders = check_folders(args.root, layers)
    for v in violations + folders:
        print(v)
    print('layer_check: %d project includes in %d files of %d layers, %d crossing a layer the wrong way'
          % (includes, files, len(layers), len(violations)))
    if folders:
        print('layer_check: %d folders whose CMakeLists.txt does not state what the table says' % len(folders))
    return 1 if violations or folders else 0


if __name__ == '__main__':
    sys.exit(main())
