# UperNet + ConvNeXt V2-H (ADE20K), the recipe of configs/upernet_convnextv2_h.py trained with FSDP
# (_base_/fsdp.py: FlexibleRunner, one FSDP unit per block). Same model, schedule and
# published values; only how the processes hold the weights changes.
_base_ = ['../upernet_convnextv2_h.py', '../_base_/fsdp.py']
