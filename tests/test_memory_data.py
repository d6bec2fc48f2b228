"folder_dls(in_memory=True) decodes once and gives the very batches of the folder path, on real photos"
import re, shutil, numpy as np, pytest, torch
from pathlib import Path
from fastai.vision.all import set_seed
from proxy_attention.data import folder_dls, decode_images, IN_MEMORY_LIMIT_MB

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'   # the project's shared real data, next to the checkout
FLOWERS, IMAGENETTE = DATA/'flowers12', DATA/'imagenette-4k'
needs_flowers = pytest.mark.skipif(not FLOWERS.is_dir(), reason=f"real photos: flowers12 (Oxford 17 Flowers subset) expected in {FLOWERS}")
GREY = IMAGENETTE/'train'/'n02102040'/'n02102040_1408.JPEG'   # one of Imagenette's greyscale JPEGs

def _copy_subset(dst:Path, layout:str) -> Path:
    "24 flowers12 photos (2 labels: 8 train + 4 test each), plus a greyscale Imagenette JPEG if there, into `dst`"
    for label in ('bluebell', 'daisy'):
        for split, n in (('train', 8), ('test', 4)):
            out = dst/split/label if layout == 'train_test' else dst/label
            out.mkdir(parents=True, exist_ok=True)
            for f in sorted((FLOWERS/split/label).iterdir())[:n]: shutil.copy(f, out/f.name)
    if GREY.is_file(): shutil.copy(GREY, (dst/'train'/'daisy' if layout == 'train_test' else dst/'daisy')/'grey.JPEG')
    return dst

def _batches(path, in_memory, epochs=2, **kwargs):
    set_seed(0)   # as a user seeds before building the loaders; from here the two paths must draw the same random numbers
    dls = folder_dls(path, size=40, bs=4, seed=3, in_memory=in_memory, **kwargs)
    return dls, [b for _ in range(epochs) for b in dls.train] + list(dls.valid)

@needs_flowers
@pytest.mark.parametrize('layout', ['train_test', 'per_label'])
@pytest.mark.parametrize('augment', [True, False])
def test_in_memory_batches_are_the_folder_batches(tmp_path, layout, augment):
    path = _copy_subset(tmp_path, layout)
    kwargs = dict(num_workers=0, valid_pct=0.25, **({} if augment else dict(batch_tfms=[])))
    fdls, folder = _batches(path, False, **kwargs)
    mdls, memory = _batches(path, True, **kwargs)
    assert type(mdls.train_ds.items[0]) is not type(fdls.train_ds.items[0])   # really two different paths
    assert mdls.vocab == fdls.vocab == ['bluebell', 'daisy']
    assert (len(mdls.train_ds), len(mdls.valid_ds)) == (len(fdls.train_ds), len(fdls.valid_ds))
    assert len(memory) == len(folder) > 4
    for i, ((xf, yf), (xm, ym)) in enumerate(zip(folder, memory)):
        assert xf.shape == xm.shape == (len(yf), 3, 40, 40)
        assert torch.equal(yf, ym), f"labels of batch {i}"
        assert torch.equal(xf, xm), f"pixels of batch {i}: max diff {float((xf - xm).abs().max())}"
    n = len(fdls.train)
    assert not torch.equal(folder[0][1], folder[n][1]) or not torch.equal(folder[0][0], folder[n][0])   # epochs reshuffle

@needs_flowers
def test_augmentation_is_really_applied(tmp_path):
    "The augmented comparison above compares augmented batches, not two copies of the plain ones"
    path = _copy_subset(tmp_path, 'train_test')
    _, plain = _batches(path, True, epochs=1, num_workers=0, batch_tfms=[])
    _, augmented = _batches(path, True, epochs=1, num_workers=0)
    assert not torch.equal(plain[0][0], augmented[0][0])

@needs_flowers
def test_worker_processes_do_not_change_the_batches(tmp_path):
    path = _copy_subset(tmp_path, 'train_test')
    _, folder = _batches(path, False, epochs=1, num_workers=0)
    _, memory = _batches(path, True, epochs=1, num_workers=2)
    assert all(torch.equal(a, b) for bf, bm in zip(folder, memory) for a, b in zip(bf, bm))

@needs_flowers
def test_decode_images_is_fastai_resize():
    from fastai.vision.all import PILImage, Resize
    files = sorted((FLOWERS/'train'/'daisy').iterdir())[:3] + ([GREY] if GREY.is_file() else [])
    images = decode_images(files, 37, threads=2)
    assert images.shape == (len(files), 37, 37, 3) and images.dtype == np.uint8
    for f, im in zip(files, images): assert np.array_equal(im, np.asarray(Resize(37, method='squish')(PILImage.create(f))))

@needs_flowers
def test_the_shared_dataset_is_only_read():
    before = sorted((p.relative_to(FLOWERS), p.stat().st_mtime_ns) for p in FLOWERS.rglob('*'))
    dls = folder_dls(FLOWERS, size=24, bs=16, in_memory=True, num_workers=0)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.vocab)) == (720, 240, 12)
    assert sorted((p.relative_to(FLOWERS), p.stat().st_mtime_ns) for p in FLOWERS.rglob('*')) == before

def test_automatic_choice_follows_the_limit(tmp_path, monkeypatch):
    from PIL import Image
    import proxy_attention.data as data
    for label in ('a', 'b'):
        (tmp_path/label).mkdir()
        for i in range(5): Image.fromarray(np.full((10, 10, 3), 20 * i, np.uint8)).save(tmp_path/label/f'{i}.png')
    assert IN_MEMORY_LIMIT_MB >= 1000
    in_memory = lambda: isinstance(folder_dls(tmp_path, size=100, bs=2, num_workers=0).train_ds.items[0], (int, np.integer))
    assert in_memory()                                     # 10 x 100 x 100 x 3 bytes = 0.3 MB
    monkeypatch.setattr(data, 'IN_MEMORY_LIMIT_MB', 0.29)
    assert not in_memory()
    monkeypatch.setattr(data, 'IN_MEMORY_LIMIT_MB', 0.3)
    assert in_memory()

@pytest.mark.parametrize('kwargs,msg', [
    (dict(in_memory='auto'), "`in_memory`='auto' is not accepted; use True, False or None"),
    (dict(in_memory=1), "`in_memory`=1 is not accepted"),
    (dict(in_memory=True, vocab=['a', 'b']), "`vocab` needs `in_memory=False`"),
    (dict(in_memory=True, size=0), "`size`=0 must be a positive int"),
    # each refused before the data is read, not when the first batch is drawn (mid-fit) or deep in fastai
    (dict(size='abc'), "`size`='abc' must be a positive int"),
    (dict(seed='x'), "`seed`='x' is not accepted; use an int >= 0"),
    (dict(bs=0), "`bs`=0 is not accepted; use a batch size >= 1"),
    (dict(valid_pct=1.5), "`valid_pct`=1.5 is not accepted; use a share of the images in (0, 1)"),
    (dict(valid_pct=-0.2), "`valid_pct`=-0.2 is not accepted")])
def test_bad_input_names_the_parameter(tmp_path, kwargs, msg):
    from PIL import Image
    (tmp_path/'a').mkdir(); Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path/'a'/'0.png')
    with pytest.raises(ValueError, match=re.escape(msg)): folder_dls(tmp_path, **kwargs)

def test_numpy_ints_and_a_height_width_pair_are_taken(tmp_path):
    "Arguments that passed before the checks still pass: numpy's ints (as Python's), a (height, width) size"
    from PIL import Image
    for label in 'ab':
        (tmp_path/label).mkdir()
        for i in range(5): Image.fromarray(np.full((10, 10, 3), 20 * i, np.uint8)).save(tmp_path/label/f'{i}.png')
    dls = folder_dls(tmp_path, size=(16, 24), seed=np.int64(1), bs=np.int64(2), num_workers=0, in_memory=False)
    assert dls.one_batch()[0].shape[-2:] == (16, 24)
    assert folder_dls(tmp_path, size=np.int64(16), bs=2, num_workers=0).one_batch()[0].shape[-2:] == (16, 16)

@pytest.mark.parametrize('path', ['', None, 123])
def test_a_path_that_is_no_folder_name(path):
    with pytest.raises(ValueError, match=f"`path`={path!r} is not accepted; give a folder"): folder_dls(path)

def test_folder_without_images(tmp_path):
    (tmp_path/'a').mkdir()
    with pytest.raises(FileNotFoundError, match='holds no image files'): folder_dls(tmp_path)

@needs_flowers
def test_test_dl_on_files_is_the_folder_paths(tmp_path):
    "Inference on new files (`test_dl`, `learn.predict`) opens them as the folder path does"
    path = _copy_subset(tmp_path, 'train_test')
    files = sorted((path/'test'/'daisy').iterdir())[:2]
    fdls, mdls = (folder_dls(path, size=40, bs=4, in_memory=m, num_workers=0) for m in (False, True))
    assert torch.equal(fdls.test_dl(files).one_batch()[0], mdls.test_dl(files).one_batch()[0])
