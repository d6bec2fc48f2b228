"Question 2's agreement reads recorded models only: their maps on the same test images, per image, never retrained"
import numpy as np, pandas as pd, pytest
from PIL import Image
from proxy_attention.data import get_dls
from proxy_attention.experiments import RESULT_COLS, append_rows, save_weights
from proxy_attention.training import make_learner
from proxy_attention.questions import vit_agreement, agreement_summary

@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    "A folder with its own test images, and untrained CNN and ViT 'runs' of two seeds each with recorded weights"
    d, rng = tmp_path_factory.mktemp('q'), np.random.default_rng(0)
    for split, n in (('train', 8), ('test', 3)):
        for label in ('a', 'b'):
            (d/'data'/split/label).mkdir(parents=True)
            for i in range(n): Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                d/'data'/split/label/f'{i}.png')
    dls = get_dls(str(d/'data'), size=64, bs=4, seed=0, num_workers=0)
    for out, arch, arms in (('cnn', 'resnet18', ('baseline', 'proxy')), ('vit', 'vit_tiny_patch16_224', ('baseline',))):
        for arm in arms:
            for seed in (0, 1):
                learn = make_learner(dls, arch, False, seed + 10 * (arm == 'proxy'))
                row = dict(data=str(d/'data'), arch=arch, epochs=1, size=64, bs=4, lr=1e-3, pretrained=False,
                           data_options='none', arm=arm, param='none', setting='default', seed=seed, epoch=0,
                           accuracy=0.5)
                row['weights'] = save_weights(learn, d/out, tuple(str(row[c]) for c in RESULT_COLS[:12]))
                append_rows([row], d/out/'results.csv')
    return d

def test_every_cnn_run_against_every_vit_per_image(recorded):
    d = recorded
    df = vit_agreement(d/'cnn', d/'vit', arms=('baseline', 'proxy'))
    assert len(df) == 6 * (2 * 2 * 2 + 1)   # 6 test images: 4 CNN runs x 2 ViTs, the two ViTs with each other
    assert df['spearman'].between(-1, 1).all() and df['top_iou'].between(0, 1).all()
    assert {'commit', 'torch', 'threads', 'weights', 'vit_weights'} <= set(df.columns)
    # the maps are the recorded models': loading another seed's weights changes the agreement
    a = df[(df['arm'] == 'baseline') & (df['vit_seed'] == 0)].groupby('seed')['spearman'].mean()
    assert a[0] != a[1]
    s = agreement_summary(df).set_index(['arm', 'measure'])
    assert s.loc[('proxy', 'spearman'), 'n_paired'] == 2 and ('vit vs vit', 'top_iou') in s.index

def test_a_model_whose_weights_changed_is_refused_not_retrained(recorded, tmp_path):
    import shutil
    d = tmp_path/'copy'; shutil.copytree(recorded, d)
    row = pd.read_csv(d/'cnn'/'results.csv').iloc[0]
    (d/'cnn'/row['weights'].split(' ')[0]).write_bytes(b'other weights')
    with pytest.raises(FileNotFoundError, match='differ from their hash'):
        vit_agreement(d/'cnn', d/'vit', arms=('baseline',))

def test_data_without_its_own_test_images_is_refused(tmp_path):
    from proxy_attention.questions import _test_images
    runs = pd.DataFrame([dict(data='digits', size=64, bs=8)])
    with pytest.raises(ValueError, match="'digits' has no test images of its own"): _test_images(runs, 4)
