"""PyTorch anchors for `clipscope bench`: the same work written in PyTorch, timed the same way.

Run by `make bench-compare` (never by tests). Prints one JSON document like
`clipscope bench --json`: {"results": [{"name": S, "seconds": median}]}.

  trunk.forward             RN50x4 image trunk (no attention pool), 288x288, batch 1, eval mode
  trunk.forward_input_grad  the same plus the gradient to the pixels (weights frozen)
  visualize.step            one paper-code feature-visualization step: the trunk cut after
                            layer4.5's conv2, spatial max, 1 - cos to conv3's weight row,
                            the code's range penalty, TV (beta 2), one zero-fill translation,
                            Adam (lr 0.01)
  visualize.step_batch8     the same for 8 neurons at once, per neuron
  visual.embed              the trunk and OpenAI's attention pool (81 + 1 tokens of 2560, 40
                            heads, query from the mean token) to the 640-d embedding
  text.embed                RN50x4's text tower on 8 captions, per caption (OpenAI's code
                            runs all 77 positions; clipscope stops after the end token)
  maxtext.step              RN50x4's text tower (12 layers, width 640, 10 heads) forward and
                            backward to free token embeddings of all 77 positions
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    """OpenAI CLIP's anti-aliased bottleneck (avg-pool instead of strides)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.AvgPool2d(stride), nn.Conv2d(inplanes, planes * 4, 1, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def branch(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.avgpool(out)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.bn3(self.conv3(self.branch(x))) + identity)


class Trunk(nn.Module):
    def __init__(self, layers=(4, 6, 10, 6), width=80):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        blocks, inplanes = [], width
        for index, count in enumerate(layers):
            planes = width * 2 ** index
            for b in range(count):
                blocks.append(Bottleneck(inplanes, planes, 2 if b == 0 and index > 0 else 1))
                inplanes = planes * 4
        self.blocks = nn.ModuleList(blocks)

    def stem(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.avgpool(x)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x

    def conv3_input(self, x):
        x = self.stem(x)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.blocks[-1].branch(x)


class AttentionPool(nn.Module):
    """OpenAI CLIP's AttentionPool2d: the mean token, positional embedding, one attention."""

    def __init__(self, grid=9, width=2560, heads=40, out=640):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / width ** 0.5)
        self.attn = nn.MultiheadAttention(width, heads)
        self.c_proj = nn.Linear(width, out)

    def forward(self, x):
        x = x.flatten(start_dim=2).permute(2, 0, 1)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + self.positional_embedding[:, None, :]
        pooled = self.attn(x[:1], x, x, need_weights=False)[0]
        return self.c_proj(pooled.squeeze(0))


class TextBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width * 4), nn.GELU(), nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class TextTower(nn.Module):
    """CLIP's text transformer from token embeddings on (LND layout, causal mask, EOT row)."""

    def __init__(self, width=640, layers=12, heads=10, context=77, embed=640):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(context, width) * 0.01)
        self.blocks = nn.ModuleList(TextBlock(width, heads) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed) * width ** -0.5)
        self.register_buffer("mask", torch.full((context, context), float("-inf")).triu_(1))

    def forward(self, embedded, end):
        x = (embedded + self.positional_embedding).permute(1, 0, 2)
        for block in self.blocks:
            x = block(x, self.mask)
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), end] @ self.text_projection


def shifted(x, dy, dx):
    """Zero-fill translation of [N, C, H, W] by (dy, dx) pixels."""
    out = torch.zeros_like(x)
    h, w = x.shape[2], x.shape[3]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, :, yd, xd] = x[:, :, ys, xs]
    return out


def visualize_step(trunk, pixels, optimizer, targets, generator):
    limit = pixels.shape[2] // 2
    dy, dx = (int(v) for v in torch.randint(-limit, limit + 1, (2,), generator=generator))
    optimizer.zero_grad()
    phi = trunk.conv3_input(shifted(pixels, dy, dx)).amax(dim=(2, 3))
    distance = 1 - F.cosine_similarity(phi, targets, dim=1)
    n = pixels.shape[0]
    flat = pixels.reshape(n, -1)
    outside = ((flat.max(dim=1).values > 2.1317) | (flat.min(dim=1).values < -1.7923)).float()
    range_penalty = flat.mean(dim=1).abs() * outside
    h, w = pixels.shape[2], pixels.shape[3]
    v = 2.12 / 6.5
    tv = ((torch.roll(pixels, -1, 3) - pixels) ** 2 + (torch.roll(pixels, -1, 2) - pixels) ** 2).reshape(n, -1).sum(1) / (h * w * v * v)
    (10 * distance + range_penalty + tv).sum().backward()
    optimizer.step()


def timed(body, runs):
    body()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(2)
    trunk = Trunk().eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    image = torch.randn(1, 3, 288, 288)
    results = []

    def want(name):
        return not args.filter or any(part in name for part in args.filter.split(","))

    if want("trunk.forward"):
        with torch.no_grad():
            results.append({"name": "trunk.forward", "seconds": timed(lambda: trunk(image), args.runs)})
    if want("trunk.forward_input_grad"):
        def forward_backward():
            x = image.clone().requires_grad_(True)
            trunk(x).mean().backward()
        results.append({"name": "trunk.forward_input_grad", "seconds": timed(forward_backward, args.runs)})
    for name, neurons in (("visualize.step", [89]), ("visualize.step_batch8", list(range(80, 88)))):
        if not want(name):
            continue
        weight = trunk.blocks[-1].conv3.weight.detach().reshape(trunk.blocks[-1].conv3.weight.shape[0], -1)
        targets = weight[neurons]
        pixels = torch.randn(len(neurons), 3, 288, 288).requires_grad_(True)
        optimizer = torch.optim.Adam([pixels], lr=0.01)
        generator = torch.Generator().manual_seed(10)
        seconds = timed(lambda: visualize_step(trunk, pixels, optimizer, targets, generator), args.runs)
        results.append({"name": name, "seconds": seconds / len(neurons)})
    if want("visual.embed"):
        pool = AttentionPool().eval()
        with torch.no_grad():
            results.append({"name": "visual.embed", "seconds": timed(lambda: pool(trunk(image)), args.runs)})
    if want("text.embed"):
        tower = TextTower().eval()
        table = torch.randn(49408, 640) * 0.02
        tokens = torch.randint(1, 49407, (8, 77))
        end = torch.full((8,), 11)
        with torch.no_grad():
            seconds = timed(lambda: tower(table[tokens], end), args.runs)
        results.append({"name": "text.embed", "seconds": seconds / 8})
    if want("maxtext.step"):
        tower = TextTower().eval()
        for p in tower.parameters():
            p.requires_grad_(False)
        target = F.normalize(torch.randn(1, 640), dim=1)
        embedded = (torch.randn(1, 77, 640) * 0.02).requires_grad_(True)
        end = torch.tensor([76])

        def text_step():
            embedded.grad = None
            (-(F.normalize(tower(embedded, end), dim=1) * target).sum()).backward()
        results.append({"name": "maxtext.step", "seconds": timed(text_step, args.runs)})
    print(json.dumps({"results": results, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
