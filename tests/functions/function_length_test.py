#!/usr/bin/env python3
"""scripts/function_length.py: the repository's non-test sources have no function over 80
lines, and a tree with one fails naming it, while braces in comments and strings, a class
body and a function just at the limit do not count against it."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'function_length.py')


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def expect(cond, what, out):
    if not cond:
        print('FAILED: %s\n--- output ---\n%s' % (what, out))
        sys.exit(1)


def function(name, lines, filler='  x += 1;  // { not a brace\n'):
    """A function whose braces span `lines` lines."""
    return 'int %s(int x) {\n%s  return x;\n}\n' % (name, filler * (lines - 3))


def main():
    code, out = run('--root', ROOT, '--max', '80')
    print(out)
    expect(code == 0, 'the repository passes at 80', out)
    expect(len([l for l in out.splitlines() if ':' in l and l.strip()[0].isdigit()]) == 10,
           'it reports the ten longest', out)
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, 'src'))
        os.makedirs(os.path.join(root, 'tests'))
        with open(os.path.join(root, 'src', 'a.cpp'), 'w') as f:
            f.write('namespace n {\nstruct S {\n  int M(int x) {\n' + '    x += 1;\n' * 90 + '    return x;\n  }\n};\n')
            f.write(function('AtTheLimit', 80))
            f.write('const char* kText = "}}}{{{";\n')
            f.write('}  // namespace n\n')
        with open(os.path.join(root, 'src', 'b.h'), 'w') as f:
            f.write(function('TooLong', 85, '  x += 1;  /* } */\n'))
        with open(os.path.join(root, 'tests', 't.cpp'), 'w') as f:
            f.write(function('TestsDoNotCount', 300))
        subprocess.run(['git', 'init', '-q'], cwd=root, check=True)
        subprocess.run(['git', 'add', '.'], cwd=root, check=True)
        code, out = run('--root', root, '--max', '80')
        expect(code == 1, 'a tree with long functions fails', out)
        expect('src/a.cpp:3  M' in out and 'src/b.h:1  TooLong' in out, 'both long functions are named', out)
        expect('TestsDoNotCount' not in out, 'tests/ is not measured', out)
        for line in out.splitlines():
            if 'AtTheLimit' in line:
                expect(line.split()[0] == '80', 'a function of 80 lines measures 80', out)
        expect('2 over 80 lines' in out, 'the count says two', out)
    print('function_length_test: passed')


if __name__ == '__main__':
    main()
