"""Importing this module registers every family. Add a family by importing its file here."""

from convarch.zoo import alexnet, lenet, vgg, zfnet  # noqa: F401
