"The module graph of `proxy_attention/`: one-way stairs (no cycle), no import inside a function to dodge one, no private names"
import ast
from pathlib import Path

LIB = Path(__file__).parents[1]/'proxy_attention'

def project_imports():
    "(module, imported module, imported names, at module level?) for every import of a project module"
    for p in sorted(LIB.glob('*.py')):
        if p.name == '_modidx.py': continue
        tree = ast.parse(p.read_text())
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or '').startswith('proxy_attention')):
                target = (node.module or '').replace('proxy_attention.', '').split('.')[0]
                if target: yield p.stem, target, [a.name for a in node.names], id(node) in top

def test_no_cycle():
    graph = {}
    for m, t, _, _ in project_imports(): graph.setdefault(m, set()).add(t)
    def visit(m, path):
        assert m not in path, f"import cycle: {' -> '.join(path + [m])}"
        for t in graph.get(m, ()): visit(t, path + [m])
    for m in graph: visit(m, [])

# The one allowed: the console script checks its command line and data folder before it imports torch, timm and fastai
# (7-10 s), so `cli._library` imports the modules that train afterwards. Start-up speed, not a dodged cycle.
LAZY = {('cli', '_library')}

def function_level_imports():
    "(module, function, imported module) for every import of a project module inside a function"
    for p in sorted(LIB.glob('*.py')):
        if p.name == '_modidx.py': continue
        for fn in ast.walk(ast.parse(p.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level >= 1 or (node.module or '').startswith('proxy_attention')):
                    yield p.stem, fn.name, (node.module or '').replace('proxy_attention.', '') or '.'

def test_no_function_level_project_imports():
    assert [(m, t) for m, t, _, top in project_imports() if not top and m not in {m for m, _ in LAZY}] == []
    assert [x for x in function_level_imports() if x[:2] not in LAZY] == []

def test_no_private_names_from_other_modules():
    assert [(m, t, n) for m, t, names, _ in project_imports() for n in names if n.startswith('_')] == []

def test_helpers_sit_below_the_callback():
    "Pixel space, the model inside DDP and the statistics come from their own modules, not from the callback or the harness"
    for m, t, names, _ in project_imports():
        if t == 'callback': assert not {'PixelSpace', 'find_normalize', 'unwrap_model', 'all_ranks_sum'} & set(names), m
        if t in ('experiments', 'cli'): assert not {'t_interval', 'train_arm', 'make_learner', 'run_pair'} & set(names), m

def test_lines_fit_in_120_columns():
    "The library's code is at most 120 characters a line; what nbdev writes itself (module docstring, `__all__`) aside"
    long = [f"{p.name}:{i}: {len(l)}" for p in sorted(LIB.glob('*.py')) if p.name != '_modidx.py'
            for i, l in enumerate(p.read_text().split('\n'), 1) if len(l) > 120 and not l.startswith(('"""', '__all__ = ['))]
    assert long == [], long
