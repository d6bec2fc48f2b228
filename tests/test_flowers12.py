"`get_flowers12` offline: Oxford 17 Flowers' archive in miniature, made here, built into flowers12; hostile archives refused"
import hashlib, io, tarfile
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from proxy_attention.data import get_flowers12, safe_extract, FLOWERS12_TEST, FLOWERS17_CLASSES
from proxy_attention.folders import check_folder

SHARED = Path(__file__).parents[2]/'shared'/'data'/'flowers12'

def shade(k:int) -> int: return 10 + 14 * k   # each species' grey level, so the test can tell where a photo went

def add(tar, name:str, data:bytes):
    info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))

@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    "17flowers.tgz in miniature: jpg/image_0001.jpg .. image_1360.jpg, 80 a species in class order, as published"
    path, rng = tmp_path_factory.mktemp('flowers17')/'17flowers.tgz', np.random.default_rng(0)
    with tarfile.open(path, 'w:gz') as tar:
        for i in range(1, 17 * 80 + 1):
            pixels = np.full((12, 16, 3), shade((i - 1) // 80), np.uint8) + rng.integers(0, 3, (12, 16, 3), dtype=np.uint8)
            buf = io.BytesIO(); Image.fromarray(pixels).save(buf, 'JPEG')
            add(tar, f'jpg/image_{i:04d}.jpg', buf.getvalue())
        add(tar, 'jpg/files.txt', b'image_0001.jpg\n')
    return path, hashlib.md5(path.read_bytes()).hexdigest()

def listing(root:Path) -> dict:
    return {(split, s): sorted(p.name for p in (root/split/s).iterdir()) for split in ('train', 'test') for s in FLOWERS12_TEST}

def test_builds_flowers12(archive, tmp_path):
    path, md5 = archive
    dest = get_flowers12(tmp_path/'flowers12', url=path.as_uri(), md5=md5)   # the download path, from a file:// URL
    assert check_folder(dest) == dict(layout='folders', classes=sorted(FLOWERS12_TEST), train=720, valid=240)
    files = listing(dest)
    for s, held_out in FLOWERS12_TEST.items():
        assert files['test', s] == [f'image_{i:04d}.jpg' for i in held_out] and len(files['train', s]) == 60
        with Image.open(dest/'train'/s/files['train', s][0]) as im:
            assert im.size == (224, 224) and abs(np.asarray(im).mean() - 1 - shade(FLOWERS17_CLASSES.index(s))) < 3
    if SHARED.is_dir(): assert files == listing(SHARED)   # the very photos of the project's copy, split alike
    assert sorted(p.name for p in tmp_path.iterdir()) == ['flowers12']   # the download and the unpacked archive gone

def test_checksum_mismatch_names_both(archive, tmp_path):
    path, md5 = archive
    with pytest.raises(ValueError, match=f"has MD5 {md5}, expected {'0' * 32}: a broken or changed download"):
        get_flowers12(tmp_path/'flowers12', archive=path, md5='0' * 32)
    assert list(tmp_path.iterdir()) == []

def test_refuses_a_folder_that_holds_something(archive, tmp_path):
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'notes.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='is not an empty folder'): get_flowers12(tmp_path/'mine', archive=archive[0])
    assert [p.name for p in (tmp_path/'mine').iterdir()] == ['notes.txt']

@pytest.mark.parametrize('kind', ['parent', 'absolute', 'symlink', 'hardlink'])
def test_hostile_archive_refused_whole(tmp_path, kind):
    "A member that would land outside the folder (issue 39 item 4): refused before anything is written"
    (tmp_path/'a').mkdir()
    bad = tmp_path/'a'/'17flowers.tgz'
    with tarfile.open(bad, 'w:gz') as tar:
        add(tar, 'jpg/image_0001.jpg', b'fine')
        if kind == 'parent': add(tar, 'jpg/../../escaped', b'out')
        elif kind == 'absolute': add(tar, str(tmp_path/'escaped'), b'out')
        else:
            info = tarfile.TarInfo('jpg/link')
            info.type, info.linkname = (tarfile.SYMTYPE, '../../../escaped') if kind == 'symlink' else (tarfile.LNKTYPE, '/etc/passwd')
            tar.addfile(info)
    with pytest.raises(ValueError, match="which is not a plain file or folder inside the archive's folder"):
        get_flowers12(tmp_path/'a'/'flowers12', archive=bad, md5=None)
    with pytest.raises(ValueError, match='nothing written'): safe_extract(bad, tmp_path/'a'/'out')
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == ['a', 'a/17flowers.tgz']
