"The data loaders: real data offline, seeded splits and batch order, clear errors, the user's folder only read"
import random, numpy as np, pytest, torch
from PIL import Image
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

# --- a folder that cannot train is refused before anything loads, the file or number named (issue 37)
FLOWERS12 = Path(__file__).parents[2]/'shared'/'data'/'flowers12'

def photo_folder(root, counts:dict, side=48):
    "A folder of small noisy JPEGs (so each has real entropy-coded data), `counts` = {'train/cat': 6, ...}"
    rng = np.random.default_rng(0)
    for sub, n in counts.items():
        (root/sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root/sub/f'image_{i:04d}.jpg')
    return root

def test_unreadable_images_named_by_path(tmp_path):
    ds = photo_folder(tmp_path, {'train/cat': 8, 'train/dog': 8, 'valid/cat': 2, 'valid/dog': 2})
    good = (ds/'train'/'cat'/'image_0001.jpg').read_bytes()
    (ds/'train'/'cat'/'image_0001.jpg').write_bytes(good[:len(good) // 2])   # a download cut short
    (ds/'valid'/'dog'/'image_0000.jpg').write_bytes(np.random.default_rng(1).bytes(3000))   # random bytes
    before = sorted((p, p.stat().st_mtime_ns) for p in ds.rglob('*'))
    with pytest.raises(ValueError) as e: folder_dls(ds, bs=4, num_workers=0)
    msg = str(e.value)
    assert msg.startswith(f"2 of the 20 image files in {str(ds)!r} cannot be read: ") and msg.endswith('remove or replace them')
    assert repr(str(ds/'train'/'cat'/'image_0001.jpg')) in msg and 'JPEG cut short' in msg
    assert repr(str(ds/'valid'/'dog'/'image_0000.jpg')) in msg and 'UnidentifiedImageError' in msg
    assert '\n' not in msg and sorted((p, p.stat().st_mtime_ns) for p in ds.rglob('*')) == before   # only read

def test_empty_folder_refused(tmp_path):
    (tmp_path/'train'/'cat').mkdir(parents=True); (tmp_path/'valid').mkdir()
    with pytest.raises(FileNotFoundError, match=f"{str(tmp_path)!r} holds no image files: give a folder with one folder"):
        folder_dls(tmp_path)

def test_one_class_refused(tmp_path):
    photo_folder(tmp_path, {'train/iris': 10, 'valid/iris': 2})
    with pytest.raises(ValueError, match=r"holds images of 1 class \(iris\): classification needs at least 2"):
        folder_dls(tmp_path, bs=4)

def test_batch_larger_than_the_training_split_refused(tmp_path):
    "The issue's case: 60 training images and the default bs=64 trained nothing, silently"
    photo_folder(tmp_path, {'train/a': 30, 'train/b': 30, 'valid/a': 5, 'valid/b': 5}, side=16)
    with pytest.raises(ValueError, match=f"`bs`=64 is more than the 60 training images of {str(tmp_path/'train')!r}: "
                                         "fastai drops the last incomplete training batch.*use `bs` <= 60, e.g. 30"):
        folder_dls(tmp_path, size=16)
    assert len(folder_dls(tmp_path, size=16, bs=60, batch_tfms=[], num_workers=0).train) == 1   # at 60 it trains

def test_validation_class_unknown_to_training_refused(tmp_path):
    photo_folder(tmp_path, {'train/a': 4, 'train/b': 4, 'valid/a': 2, 'valid/c': 2}, side=16)
    with pytest.raises(ValueError, match=r"holds classes that .* lacks \(c\)"): folder_dls(tmp_path, bs=4)

@pytest.mark.skipif(not FLOWERS12.is_dir(), reason='../shared/data/flowers12 not here')
def test_flowers12_passes_the_check():
    from proxy_attention.folders import check_folder
    from fastai.vision.all import get_image_files
    from proxy_attention.folders import image_files
    assert check_folder(FLOWERS12, bs=64) == dict(layout='folders', classes=sorted(p.name for p in (FLOWERS12/'train').iterdir()),
                                                  train=720, valid=240)
    assert image_files(FLOWERS12, folders=['train', 'test']) == sorted(get_image_files(FLOWERS12, folders=['train', 'test']))

def test_fetch_dataset_checks_the_archive_and_unpacks_it_safely(tmp_path):
    "fastai datasets come through `fetch_dataset`: the recorded size and hash checked, `safe_extract`, offline here"
    import io, tarfile, types
    from fastdownload import path_stats
    from proxy_attention.data import fetch_dataset
    def archive(name, members):
        p = tmp_path/name
        with tarfile.open(p, 'w:gz') as t:
            for m, data in members:
                info = tarfile.TarInfo(m); info.size = len(data); t.addfile(info, io.BytesIO(data))
        return p
    good = archive('tiny.tgz', [('tiny/train/a/0.txt', b'x'), ('tiny/train/b/1.txt', b'y')])
    bad = archive('evil.tgz', [('evil/ok.txt', b'x'), ('../escaped.txt', b'gotcha')])
    mod = tmp_path/'checks'; mod.mkdir()
    (mod/'download_checks.py').write_text(repr({good.as_uri(): path_stats(good), bad.as_uri(): path_stats(bad)}))
    module = types.SimpleNamespace(__file__=str(mod/'__init__.py'), __name__='checks')
    base = tmp_path/'fastai'
    path = fetch_dataset(good.as_uri(), base=base, module=module)
    assert path == base/'data'/'tiny' and (path/'train'/'b'/'1.txt').read_bytes() == b'y'
    with pytest.raises(ValueError, match='not a plain file or folder inside'): fetch_dataset(bad.as_uri(), base=base, module=module)
    assert not (base/'escaped.txt').exists() and not (tmp_path/'escaped.txt').exists()
    with pytest.raises(ValueError, match='no recorded size and hash'): fetch_dataset('file:///nowhere.tgz', base=base, module=module)

@pytest.mark.skipif(not FLOWERS12.is_dir(), reason='../shared/data/flowers12 not here')
def test_flowers12_fewer_data_subset_is_class_balanced_with_the_same_test_images():
    from collections import Counter
    from fastai.vision.all import parent_label
    full = folder_dls(FLOWERS12, size=32, bs=64, seed=0, in_memory=False, num_workers=0)
    for fraction, per_class in ((0.25, 15), (0.5, 30)):
        dls = folder_dls(FLOWERS12, size=32, bs=64, seed=0, train_fraction=fraction, in_memory=False,
                        num_workers=0)
        assert set(Counter(map(parent_label, dls.train_ds.items)).values()) == {per_class}   # of 60 per species
        assert list(dls.valid_ds.items) == list(full.valid_ds.items) and dls.vocab == full.vocab
        assert set(dls.train_ds.items) <= set(full.train_ds.items)
