"""scripts/results_summary.py's tables, on rows made here (nothing trained): epochs-to-reach counts every run and leaves
the runs of drifted pairs out; a swept run is paired with proxy attention at the defaults on proven pairs only."""
import sys
from pathlib import Path
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]/'scripts'))
import results_summary as rs

RAMP = [0.1 * e for e in range(10)]   # the baseline's: 0.0 ... 0.9, its final accuracy the target
CFG = dict(data='d', arch='a', epochs=10, size=64, bs=8, lr=0.1, pretrained=False, data_options='none')

def rows(arm, seed, accs, param='none', setting='default', first_loss=2.0):
    "A run's 10 epochs: `accs` per epoch; proxy-pipeline runs fed from epoch 2 (the epochs before must be the baseline's)"
    proxy = arm != 'baseline'
    accs = [RAMP[e] if proxy and e < 2 else a for e, a in enumerate(accs)]   # untreated: the baseline's epochs
    return [dict(CFG, arm=arm, param=param, setting=setting, seed=seed, epoch=e, accuracy=a,
                 train_loss=(first_loss if e == 0 else 1.0) + seed, valid_loss=1.0,
                 proxy_images=5 if proxy else 0, fed_images=5 if proxy and e >= 2 else 0,
                 callback='ProxyAttention()' if proxy else '') for e, a in enumerate(accs)]

def table(*runs) -> pd.DataFrame: return pd.DataFrame([r for run in runs for r in run])


def test_epochs_to_reach_counts_every_run_and_leaves_drifted_pairs_out():
    df = table(*[rows('baseline', s, RAMP) for s in range(3)],
               rows('proxy', 0, [min(a + 0.25, 1) for a in RAMP]),   # reaches 0.9 in epoch 8 (from 1)
               rows('proxy', 1, [min(a + 0.15, 1) for a in RAMP]),   # in epoch 9
               rows('proxy', 2, [a - 0.05 for a in RAMP]),           # never
               rows('randomcam', 0, [min(a + 0.35, 1) for a in RAMP]),
               rows('randomcam', 1, [min(a + 0.35, 1) for a in RAMP], first_loss=2.5),   # drifted before treatment
               rows('randomcam', 2, [a - 0.05 for a in RAMP]))
    t = rs.reach_table(df).set_index('arm')
    assert 'baseline' not in t.index   # it reaches its own final accuracy by definition
    # a mean over the runs that reached it would say 8.5 epochs; two of three runs did, the median run in epoch 9
    assert t.loc['proxy', 'runs that reached the baseline'] == '2 of 3' and t.loc['proxy', 'median run (epoch)'] == 9
    assert t.loc['proxy', 'reached by 5'] == 0
    # the drifted pair is no pair (it reached it in epoch 7 too): one run of the other two did
    assert t.loc['randomcam', 'runs that reached the baseline'] == '1 of 2'
    assert t.loc['randomcam', 'median run (epoch)'] == 7

def test_a_swept_run_is_paired_with_the_defaults_on_proven_pairs_only():
    df = table(*[rows('baseline', s, RAMP) for s in range(3)],
               *[rows('proxy', s, [a + 0.01 * s for a in RAMP]) for s in range(3)],
               *[rows('proxy', s, [a + 0.02 * s for a in RAMP], 'threshold', '0.5', 2.5 if s == 0 else 2.0)
                 for s in range(3)])   # seed 0's swept run drifted from its baseline before treatment
    v = rs.vs_default_proxy(df).set_index('run')
    assert v.loc['proxy threshold=0.5', 'paired seeds'] == 2
