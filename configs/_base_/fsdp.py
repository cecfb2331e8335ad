# Train with FSDP instead of DDP: mmengine's FlexibleRunner with its FSDPStrategy shards
# weights, gradients and AdamW state over the processes (about 1/N of each per rank), for
# models whose 16 bytes per parameter do not fit on one GPU. Launch as any distributed
# run: tools/dist_train.sh CONFIG NUM_GPUS (or tools/slurm_train.sh). docs/scaling_out.md.
runner_type = 'FlexibleRunner'
strategy = dict(
    # mmengine's FSDPStrategy with resume fixed for torch >= 2.1 (engine/fsdp.py).
    type='ResumableFSDPStrategy',
    # Checkpoints hold the whole model (gathered on rank 0, offloaded to the CPU): they
    # load into one process, into tools/test.py and into our checkpoint loader.
    state_dict_cfg='full',
    model_wrapper=dict(
        # Parameters keep their names and requires_grad: frozen stages and the lr-decay
        # groups work as without FSDP.
        use_orig_params=True,
        # One FSDP unit per ConvNeXt block (convnext_backbone/engine/fsdp.py).
        auto_wrap_policy=dict(type='convnext_fsdp_wrap_policy', unit='block')))
