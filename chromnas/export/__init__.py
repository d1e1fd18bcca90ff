"""Exports of a `.chromnas` policy file to where robots run: ONNX and dependency-free C.

* `chromnas.export.onnx_export`: an ONNX graph built with `onnx.helper` (needs the `onnx` package,
  `pip install "chromnas[onnx]"`; `onnxruntime` to run it).
* `chromnas.export.c_export`: one header and one C99 source needing only libm (NumPy only).
* `chromnas.export.c_build`: compiles that source with the system C compiler and measures it
  (ctypes bridge, flash and stack bytes, latency of one action).
* `chromnas.export.closed_loop`: runs any `act(obs)` on the policy's judge environment.
* `chromnas.export.common`: what the three share (the payload's structure bytes, probe observations).

Every exporter reads the file through `chromnas.core.policy_file`, so an export computes exactly
what `chromnas.core.runtime.Policy.act` computes: `h_0 = clip((obs - mean) / std, -clip, clip)`,
`h_l = tanh(W_l h_{l-1} + b_l)` (biases on hidden layers only), in float32.
"""
