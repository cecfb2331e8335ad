# UperNet + ConvNeXt-XL (ADE20K, 640x640), the recipe of configs/upernet_convnext_xl_640.py trained with FSDP
# (_base_/fsdp.py: FlexibleRunner, one FSDP unit per block). Same model, schedule and
# published values; only how the processes hold the weights changes.
_base_ = ['../upernet_convnext_xl_640.py', '../_base_/fsdp.py']
