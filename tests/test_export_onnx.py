"""ONNX export with dynamic batch and size, checked against PyTorch with onnxruntime."""

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
