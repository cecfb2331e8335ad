"""ONNX export with dynamic batch and size, checked against PyTorch with onnxruntime."""

import numpy as np
import pytest
import torch

from convnext_backbone import ConvNeXtBackbone
from convnext_cli.export_onnx import check, export

pytestmark = pytest.mark.e2e


def test_onnx_round_trip_matches_within_1e4(tmp_path):
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 2, 1], dims=[16, 32, 48, 64]),
                             layer_scale_init_value=1.0).eval()
    model.init_weights()
    path = str(tmp_path / 'backbone.onnx')
    export(model, path, example_hw=(64, 96))
    # Sizes other than the exported one, including ones that are not multiples of 32.
    assert check(model, path, shapes=((1, 3, 64, 96), (3, 3, 128, 64), (2, 3, 100, 70))) < 1e-4


def test_onnx_v2_model(tmp_path):
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32], v2=True),
                             out_indices=(1, 3)).eval()
    for name, param in model.named_parameters():
        if '.grn.' in name:  # GRN starts at zero; make it do something
            torch.nn.init.normal_(param, std=0.5)
    path = str(tmp_path / 'v2.onnx')
    export(model, path, example_hw=(64, 64))
    assert check(model, path, shapes=((2, 3, 96, 64),)) < 1e-4


def _fp16_tree_sum(values, axes):
    """Sum over ``axes`` with every partial sum stored in float16, pairwise (as a GPU
    reduction adds), so that the result overflows exactly when an fp16 runtime's would."""
    values = np.moveaxis(values, axes, tuple(range(len(axes))))
    rest = values.shape[len(axes):]
    values = values.reshape(-1, *rest).astype(np.float16)
    while values.shape[0] > 1:
        if values.shape[0] % 2:
            values = np.concatenate([values, np.zeros((1, *rest), np.float16)])
        values = values[0::2] + values[1::2]
    return values[0]


def _reduce_l2_replayed_in_fp16(model, path, x):
    """Each ReduceL2 of the exported graph, fed its fp32 input from onnxruntime and then
    computed as a float16 sum of squares (what an fp16 runtime such as TensorRT may do);
    returns ``[(fp16 result, fp32 result), ...]`` (results keep the reduced axes out)."""
    import onnx
    import onnxruntime
    from onnx import numpy_helper
    graph_model = onnx.load(path)
    graph = graph_model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    reductions = [n for n in graph.node if n.op_type == 'ReduceL2']
    assert reductions, 'the exported graph has no ReduceL2 (GRN) node'
    graph.output.extend(onnx.ValueInfoProto(name=n.input[0]) for n in reductions)
    session = onnxruntime.InferenceSession(graph_model.SerializeToString(),
                                           providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {'input': x.numpy()})))
    results = []
    for node in reductions:
        data, axes = values[node.input[0]], tuple(int(a) for a in constants[node.input[1]])
        fp16 = np.sqrt(_fp16_tree_sum(np.square(data.astype(np.float16)), axes))
        fp32 = np.sqrt(np.square(data.astype(np.float64)).sum(axis=axes))
        results.append((fp16, fp32))
    return results


def test_grn_of_the_exported_graph_stays_finite_in_fp16_at_800x800(tmp_path):
    # A V2 model whose hidden activations are about 20 (as in mmdeploy issue 546): a plain
    # fp16 sum of squares over the 200x200 stride-4 map would reach ~1e7 > 65504.
    from convnext_backbone import OfficialConvNeXt
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[16, 32, 64, 128], v2=True))
    model.init_weights()
    with torch.no_grad():
        for stage in model.stages:
            stage[0].pwconv1.weight.normal_(0, 5.0)
            stage[0].grn.gamma.normal_(0, 0.5)
    model.eval()
    x = torch.randn(1, 3, 800, 800)
    path = str(tmp_path / 'v2.onnx')
    export(model, path, example_hw=(64, 64))
    for fp16, fp32 in _reduce_l2_replayed_in_fp16(model, path, x):
        assert np.isfinite(fp16).all()
        # fp16 keeps 11 bits: stated tolerance 1% relative (measured: at most 0.07%).
        assert np.abs(fp16 - fp32).max() <= 0.01 * np.abs(fp32).max()
    # The same check fails for the official formulation's GRN (torch.norm of x itself).
    official = OfficialConvNeXt(model.depths, model.dims, layer_scale=0.0, use_grn=True)
    official.load_state_dict(model.state_dict())
    official_path = str(tmp_path / 'official.onnx')
    export(official.eval(), official_path, example_hw=(64, 64))
    with np.errstate(over='ignore'):  # the overflow this test expects
        replayed = _reduce_l2_replayed_in_fp16(official, official_path, x)
    assert not all(np.isfinite(fp16).all() for fp16, _ in replayed)


def test_check_refuses_an_export_with_fewer_outputs(tmp_path):
    """A stale export (stage 3 missing) must not pass because zip stops early."""
    torch.manual_seed(0)
    arch = dict(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32])
    three = ConvNeXtBackbone(arch, out_indices=(0, 1, 2)).eval()
    path = str(tmp_path / 'three.onnx')
    export(three, path, example_hw=(64, 64))
    four = ConvNeXtBackbone(arch).eval()
    four.load_state_dict(three.state_dict())
    with pytest.raises(SystemExit, match='gives 3 outputs, the backbone 4'):
        check(four, path, shapes=((1, 3, 64, 64),))


def test_exported_v1_graph_keeps_layer_scale_unfolded(tmp_path):
    """Folded, ``pwconv2.weight * gamma`` (gamma 1e-6) would underflow in a runtime that
    casts weights to fp16; the export must carry the weights and gamma as they are."""
    import onnx
    from onnx import numpy_helper
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32])).eval()
    path = str(tmp_path / 'v1.onnx')
    export(model, path, example_hw=(64, 64))
    stored = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]

    def stored_somewhere(tensor):
        value = tensor.detach().numpy()
        return any(s.size == value.size and (np.array_equal(s.reshape(value.shape), value)
                                             or np.array_equal(s.T.reshape(value.shape), value))
                   for s in stored if s.ndim == value.ndim or s.size == value.size)
    for stage in model.stages:
        for block in stage:
            assert float(block.gamma.max()) == pytest.approx(1e-6)
            assert stored_somewhere(block.pwconv2.weight)  # unfolded
            assert stored_somewhere(block.gamma)


def _replayed_in_fp16(path, x):
    """The exported graph run with every weight, input and intermediate in float16 (onnx's
    numpy reference runtime), as a runtime that converts a model to fp16 runs it."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from onnx.reference import ReferenceEvaluator

    def half(tensor):
        return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16),
                                       tensor.name)
    graph_model = onnx.load(path)
    graph = graph_model.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT:
            graph.initializer[i].CopyFrom(half(tensor))
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(half(attr.t))
            elif node.op_type == 'Cast' and attr.name == 'to' and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    outs = ReferenceEvaluator(graph_model).run(None, {'input': x.numpy().astype(np.float16)})
    assert all(o.dtype == np.float16 for o in outs)
    return [torch.from_numpy(o.astype(np.float32)) for o in outs]


def test_fp16_replay_of_the_exported_v1_graph_stays_within_the_precision_bound(tmp_path):
    """A fresh V1 model (gamma 1e-6) exported, then run entirely in fp16: each output within
    the precision tests' bound (1.5x the official formulation's error, also exported and
    replayed in fp16, plus 1e-3) of the fp32 truth. Scaled so that the gamma branch
    matters and fits fp16: ``pwconv1`` weights x1e4 (the branch before gamma is ~1e2-1e3),
    downsampling convolutions x1e-3 (the residual stream of stages 1-3 is ~1e-4, the size of
    the branch). Folded, ``pwconv2.weight * gamma`` (~2e-8) flushes to zero in fp16 and
    those stages' outputs lose the branch."""
    from test_precision import relative_error

    from convnext_backbone import OfficialConvNeXt
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128]))
    model.init_weights()
    with torch.no_grad():
        for layer in model.downsample_layers[1:]:
            layer[1].weight.mul_(1e-3)
        for stage in model.stages:
            for block in stage:
                block.pwconv1.weight.mul_(1e4)
    model.eval()
    official = OfficialConvNeXt(model.depths, model.dims).eval()
    official.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        truth = official(x)
    ours_path, official_path = str(tmp_path / 'ours.onnx'), str(tmp_path / 'official.onnx')
    export(model, ours_path, example_hw=(64, 64))
    export(official, official_path, example_hw=(64, 64))
    ours, theirs = _replayed_in_fp16(ours_path, x), _replayed_in_fp16(official_path, x)
    for i, (mine, their, true) in enumerate(zip(ours, theirs, truth)):
        assert relative_error(mine, true) <= 1.5 * relative_error(their, true) + 1e-3, i
