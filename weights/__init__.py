"""The trained networks' weights (safetensors) and their cards, installed as the package data
``sparsecodec.weights``; the registry is :mod:`sparsecodec.nets.zoo`."""
