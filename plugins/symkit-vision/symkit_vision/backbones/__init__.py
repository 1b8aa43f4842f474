"""Image backbones: :class:`CNNClassifier` and :class:`ResNetSmall` (sample dict -> outputs)."""

from symkit_vision.backbones._cnn import CNNClassifier, cnn_classifier
from symkit_vision.backbones._conv import InputGradConv2d
from symkit_vision.backbones._resnet import BasicBlock, ResNetSmall, resnet_small

__all__ = ["CNNClassifier", "cnn_classifier", "InputGradConv2d", "ResNetSmall", "BasicBlock",
           "resnet_small"]
