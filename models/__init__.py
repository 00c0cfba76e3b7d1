"""The shipped model files, installed as the package ``edge._models``.

pyproject.toml maps this folder to ``edge._models`` and packages the files the
runtime loads: ``reward.onnx``, ``trigger.json``, ``minilm/model.onnx`` and
``minilm/tokenizer.json`` (`edge.assets.models_dir` finds them). The model cards
and ``minilm/agreement.json`` stay in the repository; ``export_minilm.py`` goes
along as a module (setuptools packages every ``.py`` of a package) that the
runtime never imports. Nothing here runs at import time.
"""
