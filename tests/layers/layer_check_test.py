#!/usr/bin/env python3
"""Tests of scripts/layer_check.py on small trees of its own (a deliberately bad include
in a lower layer, a single allowed header and its neighbour), on a bad table, and on the
project's tree with its real table. Run by ctest; exits 1 naming the first failure."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'layer_check.py')


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def expect(cond, what, out):
    if not cond:
        print('FAILED: %s\n--- output ---\n%s' % (what, out))
        sys.exit(1)


def main():
    # The project's tree keeps its layers.
    code, out = run('--root', ROOT)
    expect(code == 0, 'the project tree passes the check', out)

    with tempfile.TemporaryDirectory() as root:
        table = os.path.join(ROOT, 'scripts', 'layers.txt')
        write(root, 'compiler/a.cpp', '#include "compiler/b.h"\n#include "server/cli/commands.h"\n')
        write(root, 'compiler/b.h', '#pragma once\n#include <vector>\n')
        write(root, 'db/s.cpp', '#include "compiler/support/status.h"\n#include "compiler/ops/build.h"\n')
        write(root, 'tuner/t.cpp', '#include <vector>\n#include "db/store.h"\n#include "costmodel/x.h"\n')
        write(root, 'server/cli/m.cpp', '#include "tuner/t.h"\n#include "proto/p.pb.h"\n#include "server/service/q.h"\n')
        # A subsystem's internal/ headers are its own: the service's may not be included by
        # the CLI, the compiler's ops may use theirs.
        write(root, 'server/cli/n.cpp', '#include "server/service/internal/impl.h"\n')
        write(root, 'compiler/ops/o.cpp', '#include "compiler/ops/internal/templates.h"\n#include "compiler/ir/lower.h"\n')
        # A lower compiler subsystem may not include a higher one.
        write(root, 'compiler/ir/e.cpp', '#include "compiler/target/target.h"\n#include "compiler/codegen/jit.h"\n')
        code, out = run('--root', root, '--table', table)
        expect(code == 1, 'a tree with bad includes fails (exit 1)', out)
        lines = [l for l in out.splitlines() if not l.startswith('layer_check:')]
        expect(len(lines) == 4, 'exactly the four bad includes are reported', out)
        expect(lines[0].startswith('compiler/a.cpp:2: includes "server/cli/commands.h"'),
               'the compiler including the server is named with its line', out)
        expect(lines[1].startswith('compiler/ir/e.cpp:2: includes "compiler/codegen/jit.h": layer compiler/ir'),
               'the IR may include the target but not codegen, above it', out)
        expect(lines[2].startswith('db/s.cpp:2: includes "compiler/ops/build.h"'),
               'db may include compiler/support but not the rest of the compiler', out)
        expect(lines[3].startswith('server/cli/n.cpp:1: includes "server/service/internal/impl.h": an internal/'),
               'another subsystem\'s internal/ header is refused', out)
        expect('4 crossing a layer the wrong way' in out, 'the summary counts them', out)

        # The same tree without them passes.
        write(root, 'compiler/a.cpp', '#include "compiler/b.h"\n')
        write(root, 'compiler/ir/e.cpp', '#include "compiler/target/target.h"\n')
        write(root, 'db/s.cpp', '#include "compiler/support/status.h"\n#include "compiler/support/median.h"\n')
        write(root, 'server/cli/n.cpp', '#include "server/service/q.h"\n')
        code, out = run('--root', root, '--table', table)
        expect(code == 0, 'the tree without the bad includes passes', out)

        # A folder whose CMakeLists.txt states other includes than the table fails, and one
        # that states none.
        write(root, 'db/CMakeLists.txt', '# the store\n# May include: compiler\nadd_library(x s.cpp)\n')
        write(root, 'tuner/CMakeLists.txt', 'add_library(t t.cpp)\n')
        code, out = run('--root', root, '--table', table)
        expect(code == 1 and 'db/CMakeLists.txt: says layer db may include "compiler"' in out and
               'tuner/CMakeLists.txt: no "# May include:" line' in out,
               'a folder stating other includes than the table, or none, fails', out)
        write(root, 'db/CMakeLists.txt', '# the store\n# May include: compiler/support\nadd_library(x s.cpp)\n')
        write(root, 'tuner/CMakeLists.txt', '# May include: db costmodel compiler\nadd_library(t t.cpp)\n')
        code, out = run('--root', root, '--table', table)
        expect(code == 0, 'folders stating what the table says pass', out)

        # A table line without a colon is refused (exit 2), naming the line.
        bad = os.path.join(root, 'bad-layers.txt')
        with open(bad, 'w') as f:
            f.write('compiler:\nserver compiler\n')
        code, out = run('--root', root, '--table', bad)
        expect(code == 2 and 'bad-layers.txt:2' in out, 'a bad table is refused naming its line', out)
    print('layer_check_test: all passed')


if __name__ == '__main__':
    main()
