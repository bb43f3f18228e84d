"""The published ImageNet weights of the zoo models, as facts with their sources.

torchvision: URLs, accuracies and transforms are read from torchvision 0.29.1's own source
(``torchvision/models/{alexnet,vgg,googlenet,resnet,densenet}.py``, the ``*_Weights`` enums). Each file
name ends in the first hex digits of the file's SHA-256, which ``torch.hub`` checks with
``check_hash=True``: that prefix is the published hash, and we verify it on download. The transforms are
``ImageClassification(crop_size=224)`` (resize 256) or, for the "V2" recipe, ``resize_size=232``; both use
bilinear interpolation and the ImageNet mean/std.

timm: Inception-v4 and Inception-ResNet-v2 are the TF-slim ports that timm publishes on the Hugging Face hub
(``timm/<model>.tf_in1k``, file ``model.safetensors``); the pre-activation ResNets are timm's ``resnetv2_*``
weights, published the same way. Preprocessing from timm 1.0.31's ``default_cfgs`` (input size, crop_pct,
interpolation, mean/std); accuracy from timm's ``results/results-imagenet.csv`` where it lists the weights.
No SHA-256 is recorded for them: timm's registry carries none, and we record only published hashes.

Entries for models that are not (yet) in the zoo are kept: they apply as soon as the model is registered.
"""

from __future__ import annotations

import re

from convarch.weights.sources import INCEPTION_MEAN, INCEPTION_STD, Preprocess, WeightSource, register_source
from convarch.zoo.info import TIMM_RESULTS, Figure
from convarch.zoo.registry import model_info

TORCHVISION_ORIGIN = "torchvision 0.29.1 source, torchvision/models/{file}.py, {enum}.IMAGENET1K_{version}"
TORCHVISION_URL = "https://download.pytorch.org/models/{file}"
TORCHVISION_METRICS = "torchvision weights metadata, {enum}.IMAGENET1K_{version}"
TIMM_URL = "https://huggingface.co/timm/{repo}/resolve/main/model.safetensors"

# model: (torchvision source file, weights enum, [(version, file name, top-1, top-5, resize)]), DEFAULT first.
# A None accuracy is the figure the zoo metadata already publishes for these weights (``ModelInfo.top1``/
# ``top5``, torchvision's IMAGENET1K_V1): each figure lives in one place. V2 figures, and those of models the
# zoo does not register, live here.
TORCHVISION: dict[str, tuple[str, str, list[tuple[str, str, float | None, float | None, int]]]] = {
    "alexnet": ("alexnet", "AlexNet_Weights", [("V1", "alexnet-owt-7be5be79.pth", None, None, 256)]),
    "vgg11": ("vgg", "VGG11_Weights", [("V1", "vgg11-8a719046.pth", None, None, 256)]),
    "vgg13": ("vgg", "VGG13_Weights", [("V1", "vgg13-19584684.pth", None, None, 256)]),
    "vgg16": ("vgg", "VGG16_Weights", [("V1", "vgg16-397923af.pth", None, None, 256)]),
    "vgg19": ("vgg", "VGG19_Weights", [("V1", "vgg19-dcbb9e9d.pth", None, None, 256)]),
    "vgg11_bn": ("vgg", "VGG11_BN_Weights", [("V1", "vgg11_bn-6002323d.pth", None, None, 256)]),
    "vgg13_bn": ("vgg", "VGG13_BN_Weights", [("V1", "vgg13_bn-abd245e5.pth", None, None, 256)]),
    "vgg16_bn": ("vgg", "VGG16_BN_Weights", [("V1", "vgg16_bn-6c64b313.pth", None, None, 256)]),
    "vgg19_bn": ("vgg", "VGG19_BN_Weights", [("V1", "vgg19_bn-c79401a0.pth", None, None, 256)]),
    "googlenet": ("googlenet", "GoogLeNet_Weights", [("V1", "googlenet-1378be20.pth", None, None, 256)]),
    "resnet18": ("resnet", "ResNet18_Weights", [("V1", "resnet18-f37072fd.pth", None, None, 256)]),
    "resnet34": ("resnet", "ResNet34_Weights", [("V1", "resnet34-b627a593.pth", None, None, 256)]),
    "resnet50": ("resnet", "ResNet50_Weights", [
        ("V2", "resnet50-11ad3fa6.pth", 80.858, 95.434, 232),
        ("V1", "resnet50-0676ba61.pth", None, None, 256),
    ]),
    "resnet101": ("resnet", "ResNet101_Weights", [
        ("V2", "resnet101-cd907fc2.pth", 81.886, 95.780, 232),
        ("V1", "resnet101-63fe2227.pth", None, None, 256),
    ]),
    "resnet152": ("resnet", "ResNet152_Weights", [
        ("V2", "resnet152-f82ba261.pth", 82.284, 96.002, 232),
        ("V1", "resnet152-394f9c45.pth", None, None, 256),
    ]),
    "wide_resnet50_2": ("resnet", "Wide_ResNet50_2_Weights", [
        ("V2", "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758, 232),
        ("V1", "wide_resnet50_2-95faca4d.pth", None, None, 256),
    ]),
    "wide_resnet101_2": ("resnet", "Wide_ResNet101_2_Weights", [
        ("V2", "wide_resnet101_2-d733dc28.pth", 82.510, 96.020, 232),
        ("V1", "wide_resnet101_2-32ee1156.pth", None, None, 256),
    ]),
    "densenet121": ("densenet", "DenseNet121_Weights", [("V1", "densenet121-a639ec97.pth", None, None, 256)]),
    "densenet161": ("densenet", "DenseNet161_Weights", [("V1", "densenet161-8d451a50.pth", None, None, 256)]),
    "densenet169": ("densenet", "DenseNet169_Weights", [("V1", "densenet169-b2777c0a.pth", None, None, 256)]),
    "densenet201": ("densenet", "DenseNet201_Weights", [("V1", "densenet201-c1103571.pth", None, None, 256)]),
}  # fmt: skip

# torchvision builds GoogLeNet with transform_input=True for these weights: its first step re-normalises an
# ImageNet-normalised image to (x - 0.5) / 0.5. Our GoogLeNet has no such layer, so the weights' true
# preprocessing is mean = std = 0.5 and ``transforms_for`` applies it directly.
GOOGLENET_NOTE = (
    "torchvision runs these weights with transform_input=True, which turns ImageNet normalisation into "
    "(x - 0.5) / 0.5; we record that as the preprocessing instead of adding the layer."
)

# model: (timm repo "<architecture>.<tag>", input, crop_pct, interpolation, accuracy, note); the accuracy is
# (top-1, top-5), None where timm publishes none, or "metadata" where the zoo metadata holds it.
# mean = std = 0.5 for all of them: timm's cfgs for inception_v4, inception_resnet_v2 and resnetv2 use
# IMAGENET_INCEPTION_MEAN/STD. Accuracies are timm's, measured at the "img_size" of results-imagenet.csv.
TF_PORT = "Ported by timm from the TF-slim checkpoint."
TIMM: dict[str, tuple[str, int, float, str, tuple[float, float] | None, str]] = {
    "inception_v4": ("inception_v4.tf_in1k", 299, 0.875, "bicubic", "metadata", TF_PORT),
    "inception_resnet_v2": ("inception_resnet_v2.tf_in1k", 299, 0.8975, "bicubic", "metadata", TF_PORT),
    # timm's own pre-activation ResNets (resnetv2, "a1h" and "ra4" recipes). results-imagenet.csv reports the
    # 50/101 at 288x288 (their test size, crop_pct 1.0); the 18/34 weights are newer than that table.
    "preact_resnet18": ("resnetv2_18.ra4_e3600_r224_in1k", 224, 0.9, "bicubic", None, "timm ra4 recipe."),
    "preact_resnet34": ("resnetv2_34.ra4_e3600_r224_in1k", 224, 0.9, "bicubic", None, "timm ra4 recipe."),
    "preact_resnet50": ("resnetv2_50.a1h_in1k", 224, 0.95, "bicubic", (81.398, 95.726),
                        "timm a1h recipe; accuracy at 288x288, crop_pct 1.0."),
    "preact_resnet101": ("resnetv2_101.a1h_in1k", 224, 0.95, "bicubic", (83.002, 96.454),
                         "timm a1h recipe; accuracy at 288x288, crop_pct 1.0."),
}  # fmt: skip


def _figure(model: str, metric: str, accuracy: tuple | str | None, index: int, source: str) -> Figure | None:
    """A timm accuracy: ours to state, none published, or the one the zoo metadata holds."""
    if accuracy == "metadata":
        return getattr(model_info(model), metric)
    return Figure(accuracy[index], source, 0.001, "%") if accuracy else None


def published_hash_prefix(file_name: str) -> str:
    """The SHA-256 prefix a torchvision file name carries (``resnet50-0676ba61.pth`` -> ``0676ba61``)."""
    match = re.search(r"-([0-9a-f]{8,})\.", file_name)
    if match is None:
        raise ValueError(f"{file_name} carries no hash prefix")
    return match.group(1)


def _register_torchvision(
    model: str, file: str, enum: str, versions: list[tuple[str, str, float | None, float | None, int]]
) -> None:
    for i, (version, file_name, top1, top5, resize) in enumerate(versions):
        metrics = TORCHVISION_METRICS.format(enum=enum, version=version)
        stats = {"mean": INCEPTION_MEAN, "std": INCEPTION_STD} if model == "googlenet" else {}
        register_source(
            WeightSource(
                model=model,
                tag=f"torchvision.{version.lower()}",
                url=TORCHVISION_URL.format(file=file_name),
                layout="torchvision",
                upstream=model,
                preprocess=Preprocess(
                    crop=224,
                    resize=resize,
                    interpolation="bilinear",
                    source=f"torchvision ImageClassification, {metrics}",
                    **stats,
                ),
                sha256=published_hash_prefix(file_name),
                top1=Figure(top1, metrics, 0.001, "%") if top1 is not None else model_info(model).top1,
                top5=Figure(top5, metrics, 0.001, "%") if top5 is not None else model_info(model).top5,
                origin=TORCHVISION_ORIGIN.format(file=file, enum=enum, version=version),
                aliases=("torchvision",) if i == 0 else (),
                notes=(GOOGLENET_NOTE,) if model == "googlenet" else (),
            )
        )


def _register_timm(
    model: str, repo: str, size: int, crop_pct: float, interpolation: str, accuracy: tuple | None, note: str
) -> None:
    cfg = f"timm 1.0.31 default_cfgs['{repo}']"
    architecture, _, tag = repo.partition(".")
    results = f"{TIMM_RESULTS}, {repo}"
    register_source(
        WeightSource(
            model=model,
            tag=f"timm.{tag}",
            url=TIMM_URL.format(repo=repo),
            layout="timm",
            upstream=architecture,
            preprocess=Preprocess.from_crop_pct(
                size,
                crop_pct,
                mean=INCEPTION_MEAN,
                std=INCEPTION_STD,
                interpolation=interpolation,
                source=f"{cfg}: input {size}, crop_pct {crop_pct}",
            ),
            top1=_figure(model, "top1", accuracy, 0, results),
            top5=_figure(model, "top5", accuracy, 1, results),
            origin=f"{cfg}, hf_hub_id timm/{repo}",
            aliases=("timm",),
            notes=(note, "No SHA-256 is published in timm's registry."),
        )
    )


for _model, (_file, _enum, _versions) in TORCHVISION.items():
    _register_torchvision(_model, _file, _enum, _versions)
for _model, _facts in TIMM.items():
    _register_timm(_model, *_facts)
