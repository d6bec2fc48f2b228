"scripts/four_questions.py says, question by question, what is measured and what is not there yet"
import os, subprocess, sys
import pytest
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_each_question_says_what_is_not_measured_yet(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'four_questions.py')], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for line in ("No canonical runs yet", "Not measured yet: `python scripts/thesis_regime.py vit-ref agreement`",
                 "No fewer-data runs yet", "No explained canonical models yet"):
        assert line in r.stdout
    assert not (tmp_path/'images').exists()   # figures only when asked

def _headline(tmp_path, keep) -> str:
    "four_questions.py --headline on the committed canonical rows that `keep` selects"
    from proxy_attention.experiments import read_results
    res = read_results(ROOT/'results'/'flowers12-canonical'/'results.csv')
    out = tmp_path/'results'/'flowers12-canonical'; out.mkdir(parents=True, exist_ok=True)
    res[keep(res)].to_csv(out/'results.csv', index=False)
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'four_questions.py'), '--headline'], cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

def test_headline_pairs_on_the_seeds_every_arm_has(tmp_path):
    "The README's table: an arm's extra seed is not used while another arm lacks it (one seed set, one Holm family)"
    both = lambda r: r['arm'].isin(['baseline', 'proxy']) & r['seed'].isin([0, 1])
    two = _headline(tmp_path, both)   # baseline and proxy on seeds 0 and 1 (committed rows)
    assert '| arm (flowers12, 2 seeds) |' in two and 'Paired on seeds 0, 1, which every arm has' in two, two
    # every declared run not finished is named, whatever the committed rows hold: here the baseline's and proxy's
    # seeds 2-4 and every seed of the arms with no run in the rows kept
    assert 'not finished yet: baseline seed 2, baseline seed 3, baseline seed 4, proxy seed 2' in two, two
    assert 'randomplace seed 4 (the runs resume where they stopped)' in two and 'every run finished' not in two, two
    proxy = next(l for l in two.splitlines() if l.startswith('| proxy attention'))
    # proxy attention ended at 0.8667 in both seeds: said so, not drawn as an interval of width 0; the difference has one
    assert '| 0.867 in every seed | -0.4 [' in proxy, proxy
    base = next(l for l in two.splitlines() if l.startswith('| baseline'))
    assert base.count('[') == 1, base   # the baseline: an accuracy interval over its two seeds
    one = _headline(tmp_path, lambda r: both(r) | ((r['arm'] == 'replay') & (r['seed'] == 0)))
    assert '| arm (flowers12, 1 seed) |' in one and 'Paired on seeds 0, which every arm has' in one, one
    proxy = next(l for l in one.splitlines() if l.startswith('| proxy attention'))
    assert '[' not in proxy and 'no verdict' in proxy, proxy   # seed 0 alone: no interval

def test_a_table_with_every_declared_run_says_so(tmp_path):
    "Once every arm has every declared seed, the page says the table is complete and names nothing as missing"
    sys.path.insert(0, str(ROOT/'scripts'))
    from four_questions import unfinished, declared_note, DECLARED_SEEDS, CANONICAL
    import pandas as pd
    full = pd.DataFrame([dict(arm=a, seed=s, epoch=2, epochs=3) for a in CANONICAL for s in DECLARED_SEEDS])
    assert unfinished(full, CANONICAL) == []
    assert declared_note([]).endswith('every run finished') and 'not finished' not in declared_note([])
    short = full[~((full['arm'] == 'replay') & (full['seed'] == 4))]
    assert unfinished(short, CANONICAL) == ['replay seed 4']
    # a run stopped before its last epoch is not finished
    cut = pd.concat([short, pd.DataFrame([dict(arm='replay', seed=4, epoch=1, epochs=3)])])
    assert unfinished(cut, CANONICAL) == ['replay seed 4']
    assert 'not finished yet: replay seed 4' in declared_note(unfinished(cut, CANONICAL))

def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT/'scripts'/'four_questions.py'), *map(str, args)], cwd=cwd,
                          env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)

def _main(monkeypatch, capsys, *args) -> str:
    "four_questions.py's main in this process (the committed rows read from the project's root); what it printed"
    sys.path.insert(0, str(ROOT/'scripts'))
    import four_questions
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, 'argv', ['four_questions.py', *map(str, args)])
    four_questions.main()
    return capsys.readouterr().out

def test_the_results_readme_and_the_readme_say_what_the_committed_rows_say(tmp_path, monkeypatch, capsys):
    "results/README.md's answers, the README's table and its sentence per question are four_questions.py's output"
    copy = tmp_path/'README.md'
    copy.write_text((ROOT/'results'/'README.md').read_text())
    _main(monkeypatch, capsys, '--update', copy)
    assert copy.read_text() == (ROOT/'results'/'README.md').read_text(), \
        "results/README.md is behind the committed rows: python scripts/four_questions.py --update results/README.md"
    readme = (ROOT/'README.md').read_text()
    for what in ('--headline', '--answers'):
        out = _main(monkeypatch, capsys, what)
        assert out.count('|' if what == '--headline' else '**') >= 8   # the table's rows, the four questions
        assert out.strip() in readme, \
            f"the README is behind the committed rows: python scripts/four_questions.py {what} --update nbs/index.ipynb"
    nb = tmp_path/'index.ipynb'
    nb.write_text((ROOT/'nbs'/'index.ipynb').read_text())
    for what in ('--headline', '--answers'): _main(monkeypatch, capsys, what, '--update', nb)
    assert nb.read_text() == (ROOT/'nbs'/'index.ipynb').read_text()   # the README's source is up to date too

def test_update_needs_its_marks(tmp_path, monkeypatch, capsys):
    def refused(*args) -> str:
        with pytest.raises(SystemExit) as e: _main(monkeypatch, capsys, *args)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and err[-1].startswith('four_questions.py: error: --update'), err
        return err[-1]
    page = tmp_path/'page.md'
    page.write_text('# results\n\nno marks here\n')
    refused('--update', page)
    assert page.read_text() == '# results\n\nno marks here\n'   # left as it was
    readme = (ROOT/'results'/'README.md').read_text()
    # its marks are for the whole output, not the answers alone
    assert 'scripts/four_questions.py --answers writes from here' in refused('--answers', '--update', ROOT/'results'/'README.md')
    assert (ROOT/'results'/'README.md').read_text() == readme
    assert refused('--update', tmp_path/'missing.md').endswith('missing.md: no such file')

def test_an_answer_leads_with_what_the_corrected_verdicts_say():
    sys.path.insert(0, str(ROOT/'scripts'))
    import pandas as pd
    from four_questions import lead
    rows = lambda **kw: pd.DataFrame([dict(diff=0.02, n_paired=5, p_holm=0.2, **kw)])
    words = dict(yes='Yes', no='No, it hurts', none='No gain measured')
    assert lead(rows(), **words) == 'No gain measured'                      # within noise after Holm
    assert lead(rows().assign(p_holm=0.01), **words) == 'Yes'
    assert lead(rows().assign(p_holm=0.01, diff=-0.02), **words) == 'No, it hurts'
    assert lead(rows().assign(n_paired=1, p_holm=0.01), **words) == 'Not answered yet'   # no interval before 2 seeds
    assert lead(rows().iloc[:0], **words) == 'Not answered yet'
    # an explanation metric where lower is better (deletion): a significant drop is the better explanation
    assert lead(rows(better=True).assign(diff=-0.05, p_holm=0.01), **words) == 'Yes'
    assert lead(rows(better=False).assign(diff=0.05, p_holm=0.01), **words) == 'No, it hurts'
