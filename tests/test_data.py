"The data loaders: real data offline, seeded splits and batch order, clear errors, the user's folder only read"
import random, numpy as np, pytest, torch
from pathlib import Path
from proxy_attention.data import arrays_dls, digits_dls, folder_dls, get_dls, fashion_mnist_dls, FASHION_MNIST_PATH

pytestmark = pytest.mark.newest_fastai   # DataBlock and DataLoaders: every test of this file

def test_same_seed_same_batches_whatever_the_global_rng():
    a = digits_dls(size=16, bs=16, n=100, num_workers=0)
    random.random(); torch.rand(3); np.random.rand()
    b = digits_dls(size=16, bs=16, n=100, num_workers=0)
    assert torch.equal(a.one_batch()[1], b.one_batch()[1]) and list(a.valid_ds.items) == list(b.valid_ds.items)
    c = digits_dls(size=16, bs=16, n=100, seed=1, num_workers=0)
    assert list(c.valid_ds.items) != list(a.valid_ds.items)

def test_digits_are_rgb_and_normalized():
    dls = digits_dls(size=24, bs=8, n=40, num_workers=0)
    x, y = dls.one_batch()
    assert x.shape == (8, 3, 24, 24) and x.dtype == torch.float32 and y.max() < 10
    assert -3 < float(x.min()) < 0 < float(x.max()) < 3   # ImageNet-normalized, not raw pixels

@pytest.mark.parametrize('images,labels,msg', [
    (np.zeros((4, 8, 8), dtype=np.float32), list('abcd'), 'uint8'),
    (np.zeros((4, 8, 8, 4), dtype=np.uint8), list('abcd'), 'shape'),
    (np.zeros((4, 8, 8), dtype=np.uint8), list('abc'), '3 entries for 4 images')])
def test_arrays_dls_errors_name_the_problem(images, labels, msg):
    with pytest.raises(ValueError, match=msg): arrays_dls(images, labels)

def test_get_dls_unknown_name():
    with pytest.raises(ValueError, match="`data`='nope'.*digits"): get_dls('nope')

@pytest.mark.parametrize('in_memory', [False, True])
def test_folder_is_only_read(tmp_path, in_memory):
    from PIL import Image
    for label in ('cat', 'dog'):
        (tmp_path/label).mkdir()
        for i in range(6): Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(tmp_path/label/f'{i}.png')
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob('*'))
    dls = folder_dls(tmp_path, size=16, bs=4, batch_tfms=[], in_memory=in_memory, num_workers=0)
    assert isinstance(dls.train_ds.items[0], Path) != in_memory
    assert dls.vocab == ['cat', 'dog'] and dls.one_batch()[0].shape == (4, 3, 16, 16)
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob('*')) == before

@pytest.mark.skipif(not FASHION_MNIST_PATH.is_dir(), reason='Debian dataset-fashion-mnist not installed')
def test_fashion_mnist_subset():
    dls = fashion_mnist_dls(n_train=64, n_valid=32, size=28, bs=16, num_workers=0)
    assert len(dls.train_ds) == 64 and len(dls.valid_ds) == 32 and len(dls.vocab) == 10
