"""Reference fixtures for clipscope's weights I/O and CLIP model tests.

Builds a small random-weight ResNet CLIP with OpenAI's own `clip.model.CLIP`,
converts it to fp16 the way OpenAI's released checkpoints are, writes it as an
OpenAI-style TorchScript archive (model.pt) and as safetensors, and records
what OpenAI's PyTorch code computes from those weights (in float32) on a few
real images and tricky strings. Run once, in tools/reference/.venv-torch:

    .venv-torch/bin/python make_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/CoreTests/Fixtures. See README.md for the layout.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
import skimage.data

import clip
from clip.model import CLIP, convert_weights
from clip.simple_tokenizer import SimpleTokenizer

SEED = 20240229
CONFIG = dict(
    embed_dim=32,
    image_resolution=64,
    vision_layers=(1, 1, 2, 1),
    vision_width=8,
    vision_patch_size=None,
    context_length=77,
    vocab_size=49408,
    transformer_width=32,
    transformer_heads=1,  # width / 64 rounded down, but at least 1
    transformer_layers=2,
)
# Scalars OpenAI's released archives carry next to the weights (build_model drops them).
ARCHIVE_SCALARS = {"input_resolution": 64, "context_length": 77, "vocab_size": 49408}

CAPTIONS = [
    "a photo of an astronaut",
    "a photo of a cat",
    "A cup of coffee on a saucer.",
    "a black and white photo of a man with a camera",
    "This is a sentence",
]
LABELS = ["astronaut", "cat", "coffee", "camera", "dog"]
TEMPLATE = "a photo of a {}"
TOKEN_STRINGS = [
    "A photo of clouds",
    "Wow!!! Really?! (yes) -- #1 @home",
    "This is a sentence",
    "Donald Trump",
    "café naïve résumé Ångström façade",
    "I ❤️ pizza 🍕🔥 and 👍🏽",
    "猫が好きです 中文测试 한국어",
    "Tom &amp; Jerry&#39;s &eacute;t&eacute; &lt;b&gt;",
    "it's we'll I'd they're you've I'm don't",
    "In 2024 pi is 3.14 and 1,000,000 > 42",
    "MiXeD CaSe WORDS and CamelCaseIdentifiers",
    "   leading and trailing whitespace \t\n ",
    "line one\nline two\ttabbed   spaced",
    "",
    "<|startoftext|> special <|endoftext|>",
]
LONG_SENTENCE = " ".join(
    ("the quick brown fox jumps over the lazy dog while seventeen curious "
     "astronauts quietly watch from orbit").split() * 7)
LONG_SENTENCE = " ".join(LONG_SENTENCE.split()[:100])


def randomize(model: CLIP, generator: torch.Generator) -> None:
    """Gives every tensor a non-trivial value so no layer is the identity."""
    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator) * std + mean

    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                module.weight.copy_(normal(module.weight.shape, (2.0 / fan_in) ** 0.5))
            elif isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(normal(n, 0.2, 1.0))
                module.bias.copy_(normal(n, 0.1))
                module.running_mean.copy_(normal(n, 0.1))
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=generator)))
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(normal(module.weight.shape, 0.1, 1.0))
                module.bias.copy_(normal(module.bias.shape, 0.1))
        for name, param in model.named_parameters():
            if name.endswith("bias") and ("proj" in name or "c_fc" in name):
                param.copy_(normal(param.shape, 0.05))
        model.logit_scale.fill_(float(np.log(1 / 0.07)))


def sample_images(out_dir: str):
    """Saves a few public-domain scikit-image photos at modest size; returns (file, PIL image)."""
    picks = [
        ("astronaut.png", skimage.data.astronaut(), (160, 160), "PNG"),
        ("chelsea.jpg", skimage.data.chelsea(), (200, 133), "JPEG"),
        ("coffee.png", skimage.data.coffee(), (180, 120), "PNG"),
        ("camera_gray.png", skimage.data.camera(), (120, 120), "PNG"),
    ]
    saved = []
    for file, array, size, fmt in picks:
        image = Image.fromarray(array).resize(size, Image.LANCZOS)
        path = os.path.join(out_dir, "images", file)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {"optimize": True}))
        saved.append((file, Image.open(path)))
    return saved


def trace_archive(model: CLIP, path: str) -> None:
    """Saves an OpenAI-style TorchScript archive: a traced CLIP with fp16 weights."""
    for key, value in ARCHIVE_SCALARS.items():
        if hasattr(model, key):
            delattr(model, key)
        model.register_buffer(key, torch.tensor(value))
    image = torch.zeros(1, 3, CONFIG["image_resolution"], CONFIG["image_resolution"])
    text = clip.tokenize(["a"])
    traced = torch.jit.trace(model, (image, text), check_trace=False)
    torch.jit.save(traced, path)
    for key in ARCHIVE_SCALARS:
        delattr(model, key)
        setattr(model, key, ARCHIVE_SCALARS[key])


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "Tests", "CoreTests", "Fixtures")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)

    model = CLIP(**CONFIG).eval()
    randomize(model, generator)
    convert_weights(model)
    # Also fp16 for the token embedding, keeping the fixture small; positional
    # embeddings, layer norms, batch norms and logit_scale stay float32.
    model.token_embedding.weight.data = model.token_embedding.weight.data.half()

    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt", "source": "clipscope tools/reference/make_fixtures.py"})

    # Tracing runs the forward in float32; the archive must still hold the fp16
    # tensors, so trace a float copy and then point its parameters at ours.
    float_model = CLIP(**CONFIG).eval()
    float_model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    trace_archive(float_model, os.path.join(out_dir, "model.pt.tmp"))
    scripted = torch.jit.load(os.path.join(out_dir, "model.pt.tmp"))
    os.remove(os.path.join(out_dir, "model.pt.tmp"))
    with torch.no_grad():
        for name, tensor in list(scripted.named_parameters()) + list(scripted.named_buffers()):
            if name in state:
                tensor.data = state[name].clone()
    torch.jit.save(scripted, os.path.join(out_dir, "model.pt"))
    check_archive(os.path.join(out_dir, "model.pt"), state)

    expected_model = float_model  # fp16-rounded weights, computed in float32
    expected_model.eval()
    with torch.no_grad():
        compute_expected(expected_model, out_dir)


def check_archive(path: str, state: dict) -> None:
    """The archive has OpenAI's layout and the same tensors as the safetensors file."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        root = names[0].split("/")[0]
        for required in ["data.pkl", "constants.pkl", "version"]:
            assert f"{root}/{required}" in names, (required, names[:10])
        assert any(n.startswith(f"{root}/data/") for n in names)
        assert any(n.startswith(f"{root}/code/") for n in names)
    loaded = torch.jit.load(path)
    loaded_state = loaded.state_dict()
    for key, value in state.items():
        assert loaded_state[key].dtype == value.dtype, key
        assert torch.equal(loaded_state[key], value), key
    extra = set(loaded_state) - set(state)
    assert extra == set(ARCHIVE_SCALARS), extra
    dtypes = {str(v.dtype) for v in state.values()}
    assert {"torch.float16", "torch.float32", "torch.int64"} <= dtypes, dtypes


def tiny_state_dicts(out_dir: str) -> dict:
    """A few-KB torch.save(state_dict) with every dtype, a storage offset, a strided view and
    special half values; plus the same archive rewritten with ZIP64 fields everywhere."""
    generator = torch.Generator().manual_seed(SEED + 1)
    base = torch.arange(20, dtype=torch.float32)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 6e-8, -3e-5, 6.1e-5, 65504.0,
                            float("inf"), float("-inf"), float("nan")], dtype=torch.float16)
    state = {
        "f32": torch.randn(3, 4, generator=generator),
        "f16": torch.randn(2, 3, generator=generator).half(),
        "bf16": torch.randn(5, generator=generator).bfloat16(),
        "f64": torch.randn(2, generator=generator).double(),
        "i64": torch.tensor([1, -2, 3000000000], dtype=torch.int64),
        "i32": torch.tensor([7, -8], dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "scalar": torch.tensor(2.5),
        "offset_view": base[5:11].view(2, 3),
        "transposed": torch.randn(3, 2, generator=generator).t(),
        "special_f16": special,
        "nested.block.0.weight": torch.randn(2, 2, generator=generator),
    }
    path = os.path.join(out_dir, "tiny_state_dict.pt")
    torch.save(state, path)
    loaded = torch.load(path)
    assert loaded["transposed"].stride() == (1, 2) and loaded["offset_view"].storage_offset() == 5
    tiny_scripted(out_dir)
    zip64_path = os.path.join(out_dir, "tiny_state_dict_zip64.pt")
    write_zip64_copy(path, zip64_path)
    for key, value in torch.load(zip64_path).items():
        assert torch.equal(value.float().nan_to_num(), state[key].float().nan_to_num()), key
    return {
        key: {"dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
              "float32_bits": [int(b) for b in value.float().contiguous().view(torch.int32).flatten().tolist()]}
        for key, value in state.items()
    }


class ScriptedChild(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(4, dtype=torch.float32).view(2, 2))

    def forward(self, x):
        return x @ self.weight


class ScriptedTiny(torch.nn.Module):
    """A scripted (not traced) module: its data.pkl also holds a plain tensor attribute, `mask`,
    which is not in state_dict(); only code/'s __parameters__/__buffers__ tell them apart."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]).half())
        self.register_buffer("running", torch.tensor([3.0, 4.0]))
        self.mask = torch.full((2,), -1.0)
        self.child = ScriptedChild()
        self.scale = 7

    def forward(self, x):
        return self.child(x) * self.mask + self.running + self.weight.float() * self.scale


def tiny_scripted(out_dir: str) -> None:
    module = torch.jit.script(ScriptedTiny())
    path = os.path.join(out_dir, "tiny_scripted.pt")
    torch.jit.save(module, path)
    assert list(torch.jit.load(path).state_dict()) == ["weight", "running", "child.weight"]


def write_zip64_copy(source: str, destination: str) -> None:
    """Rewrites a stored zip with ZIP64 extra fields in every header, as writers do for files over 4 GiB."""
    import struct
    with zipfile.ZipFile(source) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    out = bytearray()
    central = bytearray()
    for name, data in members:
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        encoded = name.encode()
        offset = len(out)
        extra = struct.pack("<HHQQ", 0x0001, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(encoded), len(extra)) + encoded + extra + data
        central_extra = struct.pack("<HHQQQ", 0x0001, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(central_extra), 0, 0, 0, 0,
                               0xFFFFFFFF) + encoded + central_extra
    directory_offset = len(out)
    out += central
    zip64_end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(members), len(members),
                       len(central), directory_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(destination, "wb") as file:
        file.write(out)


def compute_expected(model: CLIP, out_dir: str) -> None:
    tokenizer = SimpleTokenizer()
    resolution = CONFIG["image_resolution"]
    preprocess = clip.clip._transform(resolution)
    images = sample_images(out_dir)
    pixels = torch.stack([preprocess(image) for _, image in images])

    last = model.visual.layer4[-1]
    taps = {}
    hooks = [
        last.conv3.register_forward_hook(lambda m, i, o: taps.__setitem__("conv3", o.detach().clone())),
        last.register_forward_hook(lambda m, i, o: taps.__setitem__("block", o.detach().clone())),
    ]
    image_embeddings = model.encode_image(pixels)
    for hook in hooks:
        hook.remove()

    text_tokens = clip.tokenize(CAPTIONS)
    text_embeddings = model.encode_text(text_tokens)

    label_tokens = clip.tokenize([TEMPLATE.format(label) for label in LABELS])
    label_embeddings = model.encode_text(label_tokens)
    zero_shot = []
    for index in range(len(images)):
        image_features = image_embeddings[index:index + 1]
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = label_embeddings / label_embeddings.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * image_features @ text_features.t()
        zero_shot.append(logits.softmax(dim=-1)[0].tolist())

    tensors = {
        "pixels": pixels,
        "tap.conv3": taps["conv3"],
        "tap.block": taps["block"],
    }
    save_file({k: v.float().contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "expected.safetensors"))

    def tokens_entry(text):
        entry = {"text": text, "encode": tokenizer.encode(text)}
        ids = clip.tokenize([text], truncate=True)[0].tolist()
        entry["tokenize"] = strip_padding(ids)
        entry["decode"] = tokenizer.decode(entry["encode"])
        try:
            clip.tokenize([text])
            entry["too_long"] = False
        except RuntimeError:
            entry["too_long"] = True
        return entry

    expected = {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()
                   if k != "vision_patch_size"},
        "vision_heads": CONFIG["vision_width"] * 32 // 64,
        "logit_scale": model.logit_scale.item(),
        "archive_scalars": ARCHIVE_SCALARS,
        "weights": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                    for k, v in model_state_dtypes(out_dir).items()},
        "images": [
            {
                "file": f"images/{file}",
                "size": list(image.size),
                "mode": image.mode,
                "embedding": image_embeddings[i].tolist(),
                "conv3_max": taps["conv3"][i].amax(dim=(1, 2)).tolist(),
                "conv3_mean": taps["conv3"][i].mean(dim=(1, 2)).tolist(),
                "block_max": taps["block"][i].amax(dim=(1, 2)).tolist(),
                "block_mean": taps["block"][i].mean(dim=(1, 2)).tolist(),
                "zero_shot": zero_shot[i],
            }
            for i, (file, image) in enumerate(images)
        ],
        "texts": [
            {"text": text, "tokens": strip_padding(text_tokens[j].tolist()),
             "embedding": text_embeddings[j].tolist()}
            for j, text in enumerate(CAPTIONS)
        ],
        "zero_shot": {"template": TEMPLATE, "labels": LABELS,
                      "label_embeddings": label_embeddings.tolist()},
        "tokens": [tokens_entry(text) for text in TOKEN_STRINGS + [LONG_SENTENCE]],
        "tiny_state_dict": tiny_state_dicts(out_dir),
    }
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as file:
        json.dump(expected, file, ensure_ascii=False, indent=1)
        file.write("\n")


def strip_padding(ids: list) -> list:
    """Drops the zero padding after the end-of-text token (id 0 is also '!', so only trailing zeros)."""
    while ids and ids[-1] == 0:
        ids = ids[:-1]
    return ids


def model_state_dtypes(out_dir: str) -> dict:
    from safetensors.torch import load_file
    return load_file(os.path.join(out_dir, "model.safetensors"))


if __name__ == "__main__":
    main()
