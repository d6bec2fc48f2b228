"""Sphinx configuration of the offline docs site: the staged notebooks with their stored outputs (myst-nb, never
executed), the guides and results pages, and an API reference read from the source (sphinx-autoapi, nothing imported).
Built by scripts/build_docs.sh into `_site/`; every page opens without a network."""
import ast, configparser, io, re, sys, tokenize
from pathlib import Path

# jsonschema (under nbformat) builds grammars for an optional URI checker when rfc3987_syntax is installed: about 2 s of
# CPU for a check no notebook here needs. Without it jsonschema skips that format, as it does when it is missing.
sys.modules.setdefault('rfc3987_syntax', None)

ROOT = Path(__file__).resolve().parents[2]
_cfg = configparser.ConfigParser(delimiters=['=']); _cfg.read(ROOT/'settings.ini', encoding='utf-8')
_settings = _cfg['DEFAULT']

project = _settings['lib_name']
release = version = _settings['version']
copyright = _settings['copyright']
author = _settings['author']

extensions = ['myst_nb', 'autoapi.extension']
exclude_patterns = ['**.ipynb_checkpoints']
suppress_warnings = ['myst.xref_missing', 'myst.header', 'autoapi.python_import_resolution', 'mystnb.unknown_mime_type']

# notebooks show what they stored; nothing runs while the site builds
nb_execution_mode = 'off'
nb_ipywidgets_js = {}   # no widget manager from a CDN (stage.py leaves widget outputs out)
nb_merge_streams = True
myst_enable_extensions = ['colon_fence']
myst_heading_anchors = 3

# the API reference: parsed from proxy_attention/ (no import, so no torch), one page a module
autoapi_dirs = [str(ROOT/'proxy_attention')]
autoapi_root = 'api'
autoapi_ignore = ['*_modidx.py']
autoapi_options = ['members', 'undoc-members', 'show-inheritance', 'show-module-summary']
autoapi_add_toctree_entry = False
autoapi_keep_files = False
autoapi_python_class_content = 'both'
autoapi_member_order = 'bysource'

# astroid follows every import into the installed packages (fastai's star imports reach torch) and the standard
# library: a minute and more of parsing for names the reference shows as written anyway. It reads the project only.
from astroid.exceptions import AstroidImportError
from astroid.manager import AstroidManager
_from_name = AstroidManager.ast_from_module_name

def _project_only(self, modname, *args, **kwargs):
    top = (modname or '').split('.')[0]
    if top not in ('', 'proxy_attention', 'builtins'):
        raise AstroidImportError(f'{modname!r}: not read for the API reference (not the project)')
    return _from_name(self, modname, *args, **kwargs)

AstroidManager.ast_from_module_name = _project_only

html_theme = 'sphinx_book_theme'
html_title = f'{project} {version}'
html_copy_source = False
html_show_sourcelink = False
# the sidebar is drawn for every page: two levels (the API modules, not each module's members) keep that quick
html_theme_options = {'show_navbar_depth': 1, 'max_navbar_depth': 2, 'home_page_in_toc': True,
                      'use_download_button': False, 'navigation_with_keys': False}
html_last_updated_fmt = None

# Parameters are documented with docments (a comment beside or above each parameter, as fastcore reads them).
# The reference reads them from the source, as it reads everything else, and lists them under the signature.
_trees = {}

def _source(module):
    if module not in _trees:
        path = ROOT/'proxy_attention'/(module + '.py')
        text = path.read_text(encoding='utf-8') if path.exists() else ''
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        comments = {t.start[0]: t.string.lstrip('#').strip() for t in tokens if t.type == tokenize.COMMENT}
        _trees[module] = (ast.parse(text) if text else None, text.splitlines(), comments)
    return _trees[module]

def _find(tree, names):
    "The function or class at the dotted path `names` inside `tree`"
    node = tree
    for name in names:
        node = next((n for n in getattr(node, 'body', []) if getattr(n, 'name', None) == name), None)
        if node is None: return None
    return node

def docments_of(node, lines, comments):
    "{parameter: its comment}: the comment ending the parameter's line, else the comment lines right above it"
    a = node.args
    params = [o for o in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if o]
    res = {}
    for arg in params:
        if arg.arg in ('self', 'cls'): continue
        after = [o for o in params if o.lineno == arg.lineno and o.col_offset > arg.col_offset]
        before = [o for o in params if o.lineno == arg.lineno and o.col_offset < arg.col_offset]
        doc = None if after else comments.get(arg.lineno)   # a line's comment is its last parameter's
        if not doc and not before:
            above, i = [], arg.lineno - 1
            while i in comments and lines[i - 1].strip().startswith('#'): above.insert(0, comments[i]); i -= 1
            doc = ' '.join(above) or None
        if doc: res[arg.arg] = doc
    return res

def literal(md):
    "A Markdown docstring as reStructuredText: `code` as ``code`` (single backticks are italics there), | and * as text"
    parts = re.split(r'((?<!`)`[^`\n]+`(?!`))', md)
    out = []
    for i, p in enumerate(parts):
        if i % 2 == 0: out.append(re.sub(r'([|*])', r'\\\1', p)); continue
        # an inline literal touching a word (``Callback``s) needs an escaped space, which reStructuredText drops
        pre = '\\ ' if re.search(r'\w$', parts[i - 1]) else ''
        post = '\\ ' if re.match(r'\w', parts[i + 1]) else ''
        out.append(f'{pre}`{p}`{post}')
    return ''.join(out)

def add_docments(app, what, name, obj, skip, options):
    "autoapi-skip-member: append each documented parameter to the docstring once (`:param name: comment`)"
    if getattr(obj, '_docments_done', False): return None
    obj._docments_done = True
    if obj.docstring: obj.docstring = literal(obj.docstring)
    if what not in ('class', 'function', 'method'): return None
    parts = name.split('.')
    if len(parts) < 3 or parts[0] != 'proxy_attention': return None
    tree, lines, comments = _source(parts[1])
    node = tree and _find(tree, parts[2:])
    if isinstance(node, ast.ClassDef): node = _find(node, ['__init__'])
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)): return None
    docs = docments_of(node, lines, comments)
    if docs:
        fields = '\n'.join(f":param {k}: {literal(v)}" for k, v in docs.items())
        obj.docstring = (obj.docstring.rstrip() + '\n\n' + fields + '\n') if obj.docstring.strip() else fields + '\n'
    return None

def setup(app):
    app.connect('autoapi-skip-member', add_docments)
