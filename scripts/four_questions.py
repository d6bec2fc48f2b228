"""The thesis's four questions, answered from the committed results under the proven-pairs harness: a line per
question and the table behind it, as Markdown (for results/README.md). Trains nothing; reads
results/flowers12-canonical, results/flowers12-fewer and results/flowers12-agreement, and says what is not there yet.
With --figures, also images/flowers12-fewer.png (accuracy against the share of training images).
Usage: python scripts/four_questions.py [--figures]"""
import argparse
from pathlib import Path
import pandas as pd
from proxy_attention.experiments import read_results, summarize, final_rows, pair_check, drift_note
from proxy_attention.questions import (agreement_summary, reach_survival, fewer_data_summary, plot_fewer_data,
                                       explain_paired)
from proxy_attention.stats import markdown_table

CANON, FEWER, AGREE = Path('results/flowers12-canonical'), Path('results/flowers12-fewer'), Path('results/flowers12-agreement')
FEWER_ARMS = ('baseline', 'proxy', 'randomcam', 'replay')

def ci(m, lo, hi, scale=1., d=3, sign=False):
    f = (lambda v: f"{scale * v:+.{d}f}") if sign else (lambda v: f"{scale * v:.{d}f}")
    return '' if pd.isna(m) else f(m) + ('' if pd.isna(lo) else f" [{f(lo)}, {f(hi)}]")

def seeds_of(df) -> str:
    fin = final_rows(df)
    return '; '.join(f"{a}: {', '.join(map(str, sorted(g['seed'])))}" for a, g in fin.groupby('arm', sort=False))

def accuracy_table(s:pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({'arm': s['arm'], 'seeds': s['n_seeds'], 'accuracy (95% CI)': [
        ci(m, lo, hi) for m, lo, hi in zip(s['mean'], s['ci_low'], s['ci_high'])],
        f"vs {s['reference'].iloc[0]}, points (paired 95% CI)": [
        ci(m, lo, hi, 100, 1, True) for m, lo, hi in zip(s['diff'], s['diff_low'], s['diff_high'])],
        'Holm p': [f"{p:.3f}" if pd.notna(p) else '' for p in s['p_holm']], 'verdict': s['verdict']})

def question1(res):
    print("\n### 1. Can attention maps make an augmentation?\n")
    if not len(res): return print("No canonical runs yet (`python scripts/thesis_regime.py canonical`).")
    fin = final_rows(res)
    print(f"flowers12, ResNet-18 from scratch, {fin['size'].iloc[0]} px, {fin['epochs'].iloc[0]} epochs, one torch "
          f"thread; seeds so far: {seeds_of(res)} (0-4 declared for every arm); commits "
          f"{', '.join(sorted(set(fin['commit'].astype(str))))}.")
    pc = pair_check(res)
    print(f"Pair check: {(pc['status'] == 'paired').sum()} of {len(pc)} proxy-pipeline runs equal their baseline before "
          f"their first proxy image. {drift_note(pc)}".rstrip())
    done = final_rows(res).groupby('seed')['arm'].nunique()
    full = sorted(done[done == done.max()].index)
    ok = res[res['seed'].isin(full)]   # the seeds with every arm: one declared seed set per table
    print(f"\nThe tables pair on the seeds every arm has finished ({', '.join(map(str, full))}); the others wait.\n")
    for ref in ('baseline', 'randomcam', 'replay', 'randomplace'):
        if ref not in set(ok['arm']): continue
        s = summarize(ok, reference=ref)
        print(f"Against **{ref}**:\n\n{markdown_table(accuracy_table(s))}\n")
    r = reach_survival(res)
    if len(r):
        print("Epochs to reach the seed's baseline final accuracy, every run counted:\n")
        r['median_epoch'] = ['not reached' if pd.isna(v) else int(v) for v in r['median_epoch']]
        print(markdown_table(r.drop(columns=[c for c in r.columns if c in ('data', 'arch', 'epochs', 'size', 'bs',
                                                                            'lr', 'pretrained', 'data_options',
                                                                            'param', 'setting')])))

def question2():
    print("\n### 2. Does proxy attention move a CNN's maps toward a ViT's attention?\n")
    if not (AGREE/'agreement.csv').exists():
        return print("Not measured yet: `python scripts/thesis_regime.py vit-ref agreement`.")
    df = pd.read_csv(AGREE/'agreement.csv')
    s = agreement_summary(df)
    print(f"{df['image'].nunique()} test images, CNN Grad-CAM++ vs ViT gradient rollout of the true class, "
          f"commit {', '.join(sorted(set(df['commit'].astype(str))))}:\n")
    print(markdown_table(pd.DataFrame({'arm': s['arm'], 'measure': s['measure'], 'seeds': s['n_seeds'],
                                       'mean (95% CI)': [ci(m, l, h) for m, l, h in zip(s['mean'], s['ci_low'], s['ci_high'])],
                                       'vs baseline (paired 95% CI)': [ci(m, l, h, sign=True) for m, l, h in
                                                                       zip(s['diff'], s['diff_low'], s['diff_high'])],
                                       'verdict': s['verdict']})))

def question3(res, figures):
    print("\n### 3. Does it need fewer data?\n")
    fewer = read_results(FEWER/'results.csv')
    if not len(fewer): return print("No fewer-data runs yet (`python scripts/thesis_regime.py fewer`).")
    seeds = sorted(set(final_rows(fewer)['seed']))
    canon = res[res['arm'].isin(FEWER_ARMS) & res['seed'].isin(seeds)]
    s = fewer_data_summary(canon, fewer, arms=FEWER_ARMS)
    t = accuracy_table(s); t.insert(0, 'share of train/', s['train_fraction'])
    print(f"Seeds so far: {seeds_of(fewer)}; the 100% rows are the canonical table's on the same seeds.\n")
    print(markdown_table(t))
    if figures: plot_fewer_data(s, title='flowers12: accuracy against the share of training images',
                                save='images/flowers12-fewer.png')


def question4():
    print("\n### 4. Does it improve explanations?\n")
    e = read_results(CANON/'explain.csv') if (CANON/'explain.csv').exists() else pd.DataFrame()
    if not len(e): return print("No explained canonical models yet.")
    e = pd.read_csv(CANON/'explain.csv')
    s = explain_paired(e)
    print(markdown_table(pd.DataFrame({'arm': s['arm'], 'metric': s['metric'], 'seeds': s['n_seeds'],
                                       'mean (95% CI)': [ci(m, l, h) for m, l, h in zip(s['mean'], s['ci_low'], s['ci_high'])],
                                       'vs baseline (paired 95% CI)': [ci(m, l, h, sign=True) for m, l, h in
                                                                       zip(s['diff'], s['diff_low'], s['diff_high'])],
                                       'verdict': s['verdict']})))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--figures', action='store_true', help='also write images/flowers12-fewer.png')
    a = p.parse_args()
    res = read_results(CANON/'results.csv')
    question1(res); question2(); question3(res, a.figures); question4()

if __name__ == '__main__': main()
