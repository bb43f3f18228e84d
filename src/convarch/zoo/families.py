"""Importing this module registers every family. Add a family by importing its file here."""

from convarch.zoo import (  # noqa: F401
    alexnet,
    densenet,
    googlenet,
    inception_v4,
    lenet,
    mobilenet_v2,
    preact_resnet,
    resnet,
    resnet_cifar,
    senet,
    vgg,
    zfnet,
)
