"""The thesis's four questions, answered from the committed results under the proven-pairs harness: a line per
question and the table behind it, as Markdown (for results/README.md). Trains nothing; reads
results/flowers12-canonical, results/flowers12-fewer and results/flowers12-agreement, and says what is not there yet.
The figures (plot_fewer_data, agreement_grid, the forest plots) are scripts/make_images.py's.
Usage: python scripts/four_questions.py [--headline | --answers] [--update FILE]"""
import argparse, contextlib, io, json
from pathlib import Path
import pandas as pd
from proxy_attention.experiments import read_results, summarize, final_rows, pair_check, drift_note, epochs_to_reach
from proxy_attention.reporting import common_seeds, on_common_seeds
from proxy_attention.questions import (agreement_summary, reach_survival, fewer_data_summary,
                                       explain_paired, train_fraction_of)
from proxy_attention.stats import markdown_table

from thesis_regime import CANONICAL, FEWER as FEWER_ARMS, FRACTIONS, DECLARED_SEEDS   # what each stage declares (scripts/)

CANON, FEWER, AGREE = Path('results/flowers12-canonical'), Path('results/flowers12-fewer'), Path('results/flowers12-agreement')

def ci(m, lo, hi, scale=1., d=3, sign=False, clip=False):
    "'m [lo, hi]'; an accuracy's interval `clip`ped to [0, 1] as in the figures; a width-0 interval said as such"
    f = (lambda v: f"{scale * v:+.{d}f}") if sign else (lambda v: f"{scale * v:.{d}f}")
    if pd.isna(m): return ''
    if pd.isna(lo): return f(m)
    if lo == hi: return f"{f(m)} in every seed"   # seeds that all gave the same value: no interval, not a certainty
    if clip: lo, hi = max(lo, 0.), min(hi, 1.)
    return f"{f(m)} [{f(lo)}, {f(hi)}]"

def seeds_of(df) -> str:
    fin = final_rows(df)
    return '; '.join(f"{a}: {', '.join(map(str, sorted(g['seed'])))}" for a, g in fin.groupby('arm', sort=False))

def accuracy_table(s:pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({'arm': s['arm'], 'seeds': s['n_seeds'], 'accuracy (95% CI)': [
        ci(m, lo, hi, clip=True) for m, lo, hi in zip(s['mean'], s['ci_low'], s['ci_high'])],
        f"vs {s['reference'].iloc[0]}, points (paired 95% CI)": [
        ci(m, lo, hi, 100, 1, True) for m, lo, hi in zip(s['diff'], s['diff_low'], s['diff_high'])],
        'Holm p': [f"{p:.3f}" if pd.notna(p) else '' for p in s['p_holm']], 'verdict': s['verdict']})

def seed_span(seeds) -> str:
    "'0-4' for consecutive seeds, else '0, 2, 3'"
    s = sorted(seeds)
    return f"{s[0]}-{s[-1]}" if len(s) > 2 and s == list(range(s[0], s[-1] + 1)) else ', '.join(map(str, s))

def unfinished(rows, arms, what='') -> list:
    "Each declared run (DECLARED_SEEDS x `arms`) with no finished run in `rows`, as 'arm seed n' (`what` after the arm)"
    fin = final_rows(rows) if len(rows) else rows
    done = set(zip(fin['arm'], fin['seed'].astype(int))) if len(fin) else set()
    return [f"{a}{what} seed {s}" for a in arms for s in DECLARED_SEEDS if (a, s) not in done]

def declared_note(missing:list) -> str:
    "Whether every declared run has finished: the words a page prints beside a table's seeds"
    span = seed_span(DECLARED_SEEDS)
    if not missing: return f"seeds {span} declared for every arm before the runs began, every run finished"
    return (f"seeds {span} declared for every arm before the runs began; not finished yet: {', '.join(missing)} "
            "(the runs resume where they stopped)")

def canonical_rows(res) -> tuple:
    "The canonical table's rows on the seeds every finished arm has (one seed set, one Holm family), its arms, seeds"
    arms = [a for a in CANONICAL if a in set(final_rows(res)['arm'])] if len(res) else []
    seeds = common_seeds(res, arms) if arms else []
    return res[res['seed'].isin(seeds) & res['arm'].isin(arms)], arms, seeds

def agreement_rows(root:Path=Path('.')) -> pd.DataFrame:
    "Question 2's rows: the ViTs', and the CNNs' on the seeds every CNN arm has (one seed set for every arm)"
    df = pd.read_csv(root/AGREE/'agreement.csv')
    return df[(df['arm'] == 'vit') | df['seed'].isin(common_seeds(df[df['arm'] != 'vit']))]

def fewer_rows(res, fewer) -> pd.DataFrame:
    "Question 3's rows: the fewer-data runs and the canonical 100% ones, each size on the seeds every arm has there"
    # at each size, the seeds every arm has finished there (the figure's and the deck's rule): one seed set per size
    both = pd.concat([res[res['arm'].isin(FEWER_ARMS)], fewer], ignore_index=True)
    return on_common_seeds(both, FEWER_ARMS, per=('data_options',))

def explain_rows(root:Path=Path('.')) -> tuple:
    "Question 4's rows (explain.csv), its explained arms and the seeds every one of them has"
    e = pd.read_csv(root/CANON/'explain.csv')
    arms = [a for a in CANONICAL if a in set(e['arm'])]
    return e, arms, common_seeds(e, arms)

def made_in(*frames) -> str:
    "The commits and the environment recorded in the rows of `frames`, as a sentence (each value seen, once)"
    frames = [f for f in frames if len(f)]
    if not frames: return ''
    df = pd.concat(frames)
    vals = lambda c: ', '.join(sorted(set(df[c].dropna().astype(str)))) if c in df.columns else ''
    parts = [f"commit{'s' if ', ' in vals('commit') else ''} {vals('commit') or 'not recorded'}"]
    parts += [f"{c} {vals(c)}" for c in ('torch', 'fastai', 'timm') if vals(c)]
    if vals('threads'): parts.append(f"torch threads {vals('threads')}")
    if vals('deterministic'): parts.append(f"deterministic {vals('deterministic')}")
    if vals('device'): parts.append(f"on {vals('device')} ({vals('cpu')})" if vals('cpu') else f"on {vals('device')}")
    return "Made at " + '; '.join(parts) + '.'

def question1(res, answer=''):
    print(f"\n### 1. {QUESTIONS[1]}\n\n{answer}")
    if not len(res): return print("No canonical runs yet (`python scripts/thesis_regime.py canonical`).")
    fin = final_rows(res)
    print(f"flowers12, ResNet-18 from scratch, {fin['size'].iloc[0]} px, {fin['epochs'].iloc[0]} epochs; seeds "
          f"finished: {seeds_of(res)}; {declared_note(unfinished(res, CANONICAL))}. {made_in(fin)}")
    pc = pair_check(res)
    print(f"Pair check: {(pc['status'] == 'paired').sum()} of {len(pc)} proxy-pipeline runs equal their baseline before "
          f"their first proxy image. {drift_note(pc)}".rstrip())
    every = fin.pivot_table(index='arm', columns='seed', values='accuracy', aggfunc='first')
    every = every.reindex([a for a in CANONICAL if a in every.index])
    print("\nEvery finished run's final test accuracy, by seed (no statistics here: the tables below pair on one seed "
          "set):\n")
    print(markdown_table(every.map(lambda v: '' if pd.isna(v) else f"{v:.4f}").rename(
        columns=lambda c: f"seed {c}").reset_index()))
    ok, finished, full = canonical_rows(res)
    waiting = [a for a in CANONICAL if a not in finished]
    print(f"\nThe tables below pair on the seeds ({', '.join(map(str, full))}) that every arm with a finished run "
          f"({', '.join(finished)}) has finished" + (f"; no finished run yet of {', '.join(waiting)}" if waiting else '') +
          ". Each table is one Holm family, its comparisons to its reference arm; the answer above is the baseline's.\n")
    for ref in ('baseline', 'randomcam', 'replay', 'randomplace'):
        if ref not in set(ok['arm']): continue
        s = summarize(ok, reference=ref)
        print(f"Against **{ref}**:\n\n{markdown_table(accuracy_table(s))}\n")
    r = reach_survival(ok)
    if len(r):
        print("Epochs to reach the seed's baseline final accuracy (the same seeds; the baseline reaches its own by "
              "definition), every finished run counted:\n")
        r['median_epoch'] = ['not reached' if pd.isna(v) else int(v) for v in r['median_epoch']]
        print(markdown_table(r.drop(columns=[c for c in r.columns if c in ('data', 'arch', 'epochs', 'size', 'bs',
                                                                            'lr', 'pretrained', 'data_options',
                                                                            'param', 'setting')])))

def question2(answer=''):
    print(f"\n### 2. {QUESTIONS[2]}\n\n{answer}")
    if not (AGREE/'agreement.csv').exists():
        return print("Not measured yet: `python scripts/thesis_regime.py vit-ref agreement`.")
    df = agreement_rows()
    s = agreement_summary(df)
    print(f"{df['image'].nunique()} test images, CNN Grad-CAM++ vs ViT gradient rollout of the true class, from the "
          f"recorded weights (nothing trained again). {made_in(df)}\n")
    print(markdown_table(pd.DataFrame({'arm': s['arm'], 'measure': s['measure'], 'seeds': s['n_seeds'],
                                       'mean (95% CI)': [ci(m, l, h) for m, l, h in zip(s['mean'], s['ci_low'], s['ci_high'])],
                                       'vs baseline (paired 95% CI)': [ci(m, l, h, sign=True) for m, l, h in
                                                                       zip(s['diff'], s['diff_low'], s['diff_high'])],
                                       'verdict': s['verdict']})))

def question3(res, answer=''):
    print(f"\n### 3. {QUESTIONS[3]}\n\n{answer}")
    fewer = read_results(FEWER/'results.csv')
    if not len(fewer): return print("No fewer-data runs yet (`python scripts/thesis_regime.py fewer`).")
    sizes = {f: fewer[fewer['data_options'].map(train_fraction_of) == f] for f in FRACTIONS}
    done = '; '.join(f"at {100 * f:.0f}%, {seeds_of(r) if len(r) else 'none'}" for f, r in sizes.items())
    kept = fewer_rows(res, fewer)
    pc = pair_check(fewer)
    print(f"Pair check: {(pc['status'] == 'paired').sum()} of {len(pc)} fewer-data proxy-pipeline runs equal their "
          f"baseline before their first proxy image. {drift_note(pc)}".rstrip() + '\n')
    per = final_rows(kept).groupby('data_options')['seed'].unique() if len(kept) else pd.Series(dtype=object)
    paired = '; '.join(f"{100 * train_fraction_of(o):.0f}%: {', '.join(map(str, sorted(v)))}"
                       for o, v in sorted(per.items(), key=lambda kv: train_fraction_of(kv[0])))
    missing = [m for f, r in sizes.items() for m in unfinished(r, FEWER_ARMS, f" at {100 * f:.0f}%")]
    print(f"Seeds finished: {done}; {declared_note(missing)}. Paired at each size on the seeds every arm "
          f"({', '.join(FEWER_ARMS)}) has finished there, the 100% runs from the canonical table: {paired or 'none yet'}; Holm over sizes and arms. "
          "Figure: [images/flowers12-fewer.png](../images/flowers12-fewer.png). "
          f"{made_in(final_rows(kept)) if len(kept) else ''}\n")
    if not len(kept): return
    s = fewer_data_summary(kept, arms=FEWER_ARMS)
    t = accuracy_table(s); t.insert(0, 'share of train/', s['train_fraction'])
    print(markdown_table(t))


def question4(res, answer=''):
    print(f"\n### 4. {QUESTIONS[4]}\n\n{answer}")
    if not (CANON/'explain.csv').exists(): return print("No explained canonical models yet.")
    e, arms, seeds = explain_rows()
    print(f"The final models' Grad-CAM++ maps on 64 fixed test images, paired on the seeds every explained arm has "
          f"({', '.join(map(str, seeds))}; arms {', '.join(arms)}), explained from the recorded final weights. "
          f"{made_in(e[e['seed'].isin(seeds)])}\n")
    s = explain_paired(e[e['seed'].isin(seeds)], results=res)
    print(markdown_table(pd.DataFrame({'arm': s['arm'], 'metric': s['metric'], 'seeds': s['n_seeds'],
                                       'mean (95% CI)': [ci(m, l, h) for m, l, h in zip(s['mean'], s['ci_low'], s['ci_high'])],
                                       'vs baseline (paired 95% CI)': [ci(m, l, h, sign=True) for m, l, h in
                                                                       zip(s['diff'], s['diff_low'], s['diff_high'])],
                                       'verdict': s['verdict']})))

LOWER_IS_BETTER = ('deletion_auc', 'drop_in_confidence')   # metrics.py: a lower value is the better explanation

def lead(rows:pd.DataFrame, yes:str, no:str, none:str) -> str:
    "An answer's first words from paired rows of one Holm family: not answered before 2 paired seeds in each"
    if not len(rows) or (rows['n_paired'] < 2).any(): return 'Not answered yet'
    sig = rows[rows['p_holm'] < 0.05]
    if len(sig) and (sig['better'] if 'better' in sig else sig['diff'] > 0).any(): return yes
    return no if len(sig) else none

def pts(r) -> str: return ci(r['diff'], r['diff_low'], r['diff_high'], 100, 1, True)

QUESTIONS = {1: 'Can attention maps make an augmentation?', 2: "Can a CNN approximate a ViT's attention?",
             3: 'Does it converge faster, and so need fewer data?', 4: 'Does it improve explanations?'}

def answer_texts(root:Path=Path('.')) -> dict:
    "Per question, its answer's lead and the rest of its sentence, from the rows under `root`, paired as the tables"
    out = {q: ('Not measured yet', '') for q in QUESTIONS}
    res = read_results(root/CANON/'results.csv')
    ok, arms, seeds = canonical_rows(res)
    s = summarize(ok).set_index('arm') if seeds else None
    if s is not None and 'proxy' in s.index:
        n = int(s.loc['proxy', 'n_paired'])
        every = f"; fed every epoch {pts(s.loc['everyepoch'])}" if 'everyepoch' in s.index else ''
        out[1] = (lead(s.loc[['proxy']], 'Yes', 'No, it hurts', 'No gain measured'),
                  f"proxy attention at the thesis's feeding ends {pts(s.loc['proxy'])} points from the baseline "
                  f"({n} seed{'s' * (n != 1)}, Holm over the table){every}")
    if (root/AGREE/'agreement.csv').exists():
        df = agreement_rows(root)
        a = agreement_summary(df).set_index(['arm', 'measure'])
        if ('proxy', 'spearman') in a.index:
            p, b = a.loc[('proxy', 'spearman')], a.loc[('baseline', 'spearman')]
            vit = f"; two ViTs of different seeds agree at {a.loc[('vit vs vit', 'spearman'), 'mean']:.3f}" if (
                'vit vs vit', 'spearman') in a.index else ''
            out[2] = (lead(a.loc[[('proxy', 'spearman')]], 'Yes, closer', 'No, further from it',
                           'No sign that proxy attention moves it closer'),
                      f"on the {df['image'].nunique()} test images a ResNet-18's Grad-CAM++ maps agree with a "
                      f"ViT-Tiny's gradient rollout at Spearman {p['mean']:.3f} (proxy attention) and {b['mean']:.3f} "
                      f"(baseline), a paired difference of {ci(p['diff'], p['diff_low'], p['diff_high'], sign=True)} "
                      f"({int(p['n_paired'])} seeds, Holm){vit}")
    fewer = read_results(root/FEWER/'results.csv')
    kept = fewer_rows(res, fewer) if len(fewer) else fewer
    f = fewer_data_summary(kept, arms=FEWER_ARMS) if len(kept) else None
    small = f[(f['arm'] == 'proxy') & (f['train_fraction'] < 1)] if f is not None else []
    if len(small):
        sizes = ' and '.join(f"{pts(r)}{' points from the baseline' * (i == 0)} with {100 * r['train_fraction']:.0f}%"
                             f"{' of the training images' * (i == 0)} ({int(r['n_paired'])} seeds)"
                             for i, (_, r) in enumerate(small.iterrows()))
        reach = ''
        if s is not None and 'proxy' in s.index:
            c = epochs_to_reach(ok[ok['arm'].isin(['baseline', 'proxy'])]).set_index('arm')
            reach = (f"; at full data it reached its seed's baseline final accuracy in {int(c.loc['proxy', 'reached'])} "
                     f"of {int(c.loc['proxy', 'runs'])} runs")
        out[3] = (lead(small, 'Yes', 'No, it hurts', 'No gain measured'),
                  f"proxy attention ends {sizes}, Holm over sizes and arms{reach}")
    if (root/CANON/'explain.csv').exists():
        e, _, eseeds = explain_rows(root)
        x = explain_paired(e[e['seed'].isin(eseeds)], results=res)
        x = x[x['arm'] == 'proxy'].set_index('metric')
        x['better'] = [(d < 0) if m in LOWER_IS_BETTER else (d > 0) for m, d in zip(x.index, x['diff'])]
        got = [m for m in ('deletion_auc', 'insertion_auc', 'road') if m in x.index]
        if got:
            d = lambda m: ci(x.loc[m, 'diff'], x.loc[m, 'diff_low'], x.loc[m, 'diff_high'], sign=True)
            names = {'deletion_auc': 'deletion area', 'insertion_auc': 'insertion area', 'road': 'ROAD'}
            out[4] = (lead(x.loc[got], 'Yes, by some metric', 'No, worse by some metric', 'No sign'),
                      "proxy attention's " + ', '.join(f"{names[m]} {d(m)}" for m in got) +
                      f" against the baseline's ({int(x.loc[got[0], 'n_paired'])} seeds; raw intervals, Holm over arms "
                      f"and metrics: its smallest p here {x.loc[got, 'p_holm'].min():.2f}; lower deletion, higher "
                      "insertion and ROAD are better)")
    return out

def answers():
    "The README's sentence per question (`answer_texts`), a numbered list"
    figure = {3: ' ([figure](images/flowers12-fewer.png))'}   # the README's links (the deck shows the figures)
    for q, (word, rest) in answer_texts().items():
        print(f"{q}. **{QUESTIONS[q]}** {word}" + (f": {rest}{figure.get(q, '')}" if rest else '') + '.')

# the README's headline rows and how it names them (the Holm family is the whole canonical table's)
HEADLINE = {'baseline': 'baseline', 'proxy': "proxy attention (the library's defaults: the thesis's feeding)",
            'randomcam': 'random maps, same pipeline (control)',
            'replay': 'replay only: proxy images equal to their originals (control)',
            'randomplace': "as many pixels darkened as the map's, at a random place (control)"}

def headline(res):
    "The README's table: the canonical arms of HEADLINE on the seeds every arm has, Holm over the whole table"
    ok, arms, seeds = canonical_rows(res)
    s = summarize(ok).set_index('arm')
    print(f"| arm (flowers12, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}) | test accuracy (95% CI) | "
          "vs baseline, points (paired 95% CI) | verdict (Holm over the table) |\n|---|---|---|---|")
    for arm, name in HEADLINE.items():
        if arm not in s.index: continue
        r = s.loc[arm]
        verdict = 'reference' if arm == 'baseline' else r['verdict'].split(':')[0] + (
            f" (p={r['p_holm']:.2f})" if pd.notna(r['p_holm']) else '')
        print(f"| {name} | {ci(r['mean'], r['ci_low'], r['ci_high'], clip=True)} | "
              f"{ci(r['diff'], r['diff_low'], r['diff_high'], 100, 1, True)} | {verdict} |")
    print(f"\nPaired on seeds {', '.join(map(str, seeds))}, which every arm has; "
          f"{declared_note(unfinished(res, CANONICAL))}. Arms in the Holm family: "
          f"{', '.join(a for a in arms if a != 'baseline')}.")

def marks(what:str) -> tuple:
    "The two lines between which --update writes an output (`what`: '', ' --headline' or ' --answers')"
    return (f"<!-- scripts/four_questions.py{what} writes from here to its end mark -->",
            f"<!-- end of scripts/four_questions.py{what} -->")

def marks_error(t:str, what:str) -> str:
    "What is wrong with a page's marks for --update ('' when it has them)"
    begin, end = marks(what)
    if t.count(begin) == 1 and t.count(end) == 1 and t.index(begin) < t.index(end): return ''
    return f"needs one line {begin} and, after it, one line {end}, between which the output is written"

def replace_between(t:str, text:str, what:str) -> str:
    begin, end = marks(what)
    a, b = t.index(begin) + len(begin), t.index(end)
    return t[:a] + '\n' + text.strip('\n') + '\n' + t[b:]

def page_text(path:Path) -> str:
    "A page's text: a Markdown file's, or a notebook's Markdown cells' (nbs/index.ipynb, the README's source)"
    if path.suffix != '.ipynb': return path.read_text()
    return '\n'.join(''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'markdown')

def update(path:Path, text:str, what:str):
    "Write `text` between the marks of `what` in `path` (a Markdown file, or the Markdown cell of a notebook that has them)"
    if path.suffix != '.ipynb': return path.write_text(replace_between(path.read_text(), text, what))
    nb = json.loads(path.read_text())
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and not marks_error(src, what):
            c['source'] = replace_between(src, text, what).splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--headline', action='store_true', help="only the README's headline table (the canonical arms)")
    p.add_argument('--answers', action='store_true', help="only the README's sentence per question")
    p.add_argument('--update', type=Path, metavar='FILE',
                   help="write the output into FILE (Markdown, or a notebook's Markdown cell) between its marks, "
                        f"e.g. {marks('')[0]} ... {marks('')[1]}, instead of printing it")
    a = p.parse_args()
    if a.headline and a.answers: p.error("--headline and --answers: one output at a time")
    what = ' --headline' if a.headline else ' --answers' if a.answers else ''
    if a.update and not a.update.is_file(): p.error(f"--update {a.update}: no such file")
    if a.update and (why := marks_error(page_text(a.update), what)): p.error(f"--update {a.update}: {why}")
    res = read_results(CANON/'results.csv')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if a.headline: headline(res)
        elif a.answers: answers()
        else:
            ans = {q: f"**{w}**" + (f": {r}." if r else '.') + '\n' for q, (w, r) in answer_texts().items()}
            question1(res, ans[1]); question2(ans[2]); question3(res, ans[3]); question4(res, ans[4])
    if a.update: update(a.update, out.getvalue(), what)
    else: print(out.getvalue(), end='')

if __name__ == '__main__': main()
