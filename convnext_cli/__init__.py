"""The command-line application around the ``convnext_backbone`` library.

One module per command (``train``, ``test``, ``extract_features``, ``make_config``,
``draw_predictions``, ``show_param_groups``, ``convert_checkpoint``, ``get_flops``,
``export_onnx``, ``make_demo_data``, ``model_zoo``),
each with a ``main(argv=None)``; ``tools/*.py`` and the installed console scripts only call
them. Shared pieces: ``arguments`` (CLI arguments, config reading), ``preflight`` (checks
before a run builds anything), ``data_checks`` (checks of a user's dataset),
``extraction`` (the extractor's image loading and output files) and ``demo_data`` (the
generated demo sets).
"""
