"""The checkpoints people download: .safetensors, several weight sets (EMA), init_cfg keys,
run arguments in the pickle, and downloads (cache key, hash suffix, one per machine),
served by a local HTTP server on 127.0.0.1."""
import argparse
import hashlib
import multiprocessing

import pytest
import torch
from helpers import LocalServer

from convnext_backbone import CheckpointError, ConvNeXtBackbone, load_pretrained
from convnext_backbone.checkpoint import read_checkpoint
from convnext_backbone.checkpoint.io import cache_path

from conftest import expected, fixture_arch, fixture_dir, layer_norm_2d


def official_weights(version='v1'):
    return torch.load(fixture_dir(version) / 'official_classification.pth',
                      weights_only=True)['model']


def reproduces_reference(model, version='v1'):
    ref = expected(version)
    with torch.no_grad():
        outs = model.eval()(ref['input'])
    for out, want in zip(outs, [layer_norm_2d(o) for o in ref['stage_outputs']]):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)


def test_safetensors_files_load_without_pickle(tmp_path, monkeypatch):
    from safetensors.torch import save_file
    save_file(official_weights(), str(tmp_path / 'model.safetensors'))
    save_file(official_weights(), str(tmp_path / 'no_suffix.bin'))  # found by its header
    for name in ('model.safetensors', 'no_suffix.bin'):
        model = ConvNeXtBackbone(fixture_arch('v1'))
        with monkeypatch.context() as patch:
            patch.setattr(torch, 'load', lambda *a, **k: pytest.fail('pickle was used'))
            report = load_pretrained(model, str(tmp_path / name))
        assert report.layout == 'official-classification'
        reproduces_reference(model)


def test_broken_safetensors_names_the_file(tmp_path):
    (tmp_path / 'bad.safetensors').write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1')
    with pytest.raises(CheckpointError, match='not a readable .safetensors file'):
        read_checkpoint(str(tmp_path / 'bad.safetensors'))


def ema_checkpoint(tmp_path):
    weights = official_weights()
    ema = {k: v + 1.0 for k, v in weights.items()}  # recognisably different
    path = tmp_path / 'with_ema.pth'
    torch.save({'model': weights, 'model_ema': ema, 'epoch': 3}, path)
    return path, ema


def test_several_weight_sets_default_to_the_non_ema_one_and_say_so(tmp_path):
    path, _ = ema_checkpoint(tmp_path)
    model = ConvNeXtBackbone(fixture_arch('v1'))
    report = load_pretrained(model, str(path))
    assert report.weights == 'model' and report.others == ['model_ema']
    assert "weights 'model'" in report.summary() and "'model_ema'" in report.summary()
    reproduces_reference(model)


def test_weight_set_chosen_in_init_cfg(tmp_path):
    path, ema = ema_checkpoint(tmp_path)
    model = ConvNeXtBackbone(fixture_arch('v1'), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), weights='model_ema'))
    model.init_weights()
    torch.testing.assert_close(model.downsample_layers[0][0].weight,
                               ema['downsample_layers.0.0.weight'])
    with pytest.raises(CheckpointError, match=r"no weight set 'state_dict_ema'.*'model', "
                                              r"'model_ema'"):
        load_pretrained(ConvNeXtBackbone(fixture_arch('v1')), str(path),
                        weights='state_dict_ema')


def test_unknown_init_cfg_keys_are_refused_by_name_and_known_ones_honoured(tmp_path):
    model = ConvNeXtBackbone(fixture_arch('v1'), init_cfg=dict(
        type='Pretrained', checkpoint='x.pth', prefixx='backbone.'))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['prefixx'\].*prefix"):
        model.init_weights()
    weights = official_weights()
    path = tmp_path / 'wrapped.pth'  # a backbone inside something that is not a detector
    torch.save({'state_dict': {**{f'encoder_q.{k}': v for k, v in weights.items()},
                               'queue': torch.zeros(3)}}, path)
    model = ConvNeXtBackbone(fixture_arch('v1'), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='encoder_q.', map_location='cpu'))
    model.init_weights()
    reproduces_reference(model)


def test_run_arguments_in_the_pickle_are_read_and_other_objects_refused(tmp_path):
    path = tmp_path / 'train_run.pth'
    torch.save({'model': official_weights(), 'epoch': 299,
                'args': argparse.Namespace(lr=4e-3, model='convnext_tiny', drop_path=0.1)},
               path)
    model = ConvNeXtBackbone(fixture_arch('v1'))
    load_pretrained(model, str(path))
    reproduces_reference(model)
    torch.save({'model': official_weights(), 'args': _Opaque()}, tmp_path / 'opaque.pth')
    with pytest.raises(CheckpointError, match=r'_Opaque.*extract the weights once'):
        read_checkpoint(str(tmp_path / 'opaque.pth'))


class _Opaque:
    pass


# --- downloads -----------------------------------------------------------------------

def file_bytes(tmp_path, state, name='x.pth'):
    torch.save(state, tmp_path / name)
    return (tmp_path / name).read_bytes()


def test_two_urls_with_the_same_file_name_do_not_share_a_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    a = file_bytes(tmp_path, {'w': torch.zeros(2)}, 'a.pth')
    b = file_bytes(tmp_path, {'w': torch.ones(2)}, 'b.pth')
    server = LocalServer({'/v1/model.pth': a, '/v2/model.pth': b})
    try:
        first = read_checkpoint(f'{server.url}/v1/model.pth')
        second = read_checkpoint(f'{server.url}/v2/model.pth')
        again = read_checkpoint(f'{server.url}/v1/model.pth')  # from the cache
    finally:
        server.close()
    assert first['w'].sum() == 0 and second['w'].sum() == 2 and again['w'].sum() == 0
    assert server.counts == {'/v1/model.pth': 1, '/v2/model.pth': 1}
    assert cache_path(f'{server.url}/v1/model.pth') != cache_path(f'{server.url}/v2/model.pth')


def test_hash_suffix_in_the_file_name_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    body = file_bytes(tmp_path, {'w': torch.arange(3.0)})
    good = hashlib.sha256(body).hexdigest()[:8]
    server = LocalServer({f'/convnext-{good}.pth': body, '/convnext-deadbeef.pth': body})
    try:
        assert read_checkpoint(f'{server.url}/convnext-{good}.pth')['w'].sum() == 3
        with pytest.raises(CheckpointError, match='SHA-256 does not start with deadbeef'):
            read_checkpoint(f'{server.url}/convnext-deadbeef.pth')
    finally:
        server.close()
    import os
    assert not os.path.exists(cache_path(f'{server.url}/convnext-deadbeef.pth'))


def _fetch(url, torch_home, results, barrier):
    import os
    os.environ['TORCH_HOME'] = torch_home
    from convnext_backbone.checkpoint import read_checkpoint as read
    barrier.wait(60)  # every process imported; all ask at once, inside the slow download
    results.put(float(read(url)['w'].sum()))


def test_processes_on_one_machine_download_once(tmp_path):
    body = file_bytes(tmp_path, {'w': torch.ones(4)})
    server = LocalServer({'/big.pth': body}, delay=1.0)  # slow: the processes overlap
    ctx = multiprocessing.get_context('spawn')
    results, barrier = ctx.Queue(), ctx.Barrier(3)
    procs = [ctx.Process(target=_fetch, args=(f'{server.url}/big.pth',
                                              str(tmp_path / 'hub'), results, barrier))
             for _ in range(3)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
    finally:
        server.close()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(results.get() for _ in procs) == [4.0, 4.0, 4.0]
    assert server.counts == {'/big.pth': 1}


def test_convert_takes_the_chosen_weight_set(tmp_path):
    from convnext_cli.convert_checkpoint import convert
    path, ema = ema_checkpoint(tmp_path)
    convert(str(path), str(tmp_path / 'ema.pth'), weights='model_ema', verify=True)
    saved = torch.load(tmp_path / 'ema.pth', weights_only=True)
    assert saved['meta']['weights'] == 'model_ema'
    torch.testing.assert_close(saved['state_dict']['backbone.downsample_layers.0.0.weight'],
                               ema['downsample_layers.0.0.weight'])
