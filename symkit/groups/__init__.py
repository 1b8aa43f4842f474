"""Built-in groups; importing this package registers them in ``registry("groups")``."""

from symkit.groups._base import KINDS, Element, Group, element_size, map_element
from symkit.groups._cyclic import Cyclic, c4, cyclic
from symkit.groups._dihedral import Dihedral, d4, dihedral
from symkit.groups._euclidean import Euclidean, SpecialEuclidean, e, e2, e3, se, se2, se3
from symkit.groups._orthogonal import Orthogonal, SpecialOrthogonal, o, o2, o3, so, so2, so3
from symkit.groups._product import DirectProduct, product
from symkit.groups._sampling import haar_orthogonal
from symkit.groups._scaling import Scaling, scaling
from symkit.groups._symmetric import Symmetric, symmetric
from symkit.groups._translation import Translation, translation
from symkit.groups._trivial import Trivial, trivial

__all__ = [
    "KINDS",
    "Element",
    "Group",
    "element_size",
    "map_element",
    "haar_orthogonal",
    "Trivial",
    "Cyclic",
    "Dihedral",
    "Orthogonal",
    "SpecialOrthogonal",
    "Euclidean",
    "SpecialEuclidean",
    "Translation",
    "Scaling",
    "Symmetric",
    "DirectProduct",
    "trivial",
    "cyclic",
    "c4",
    "dihedral",
    "d4",
    "o",
    "o2",
    "o3",
    "so",
    "so2",
    "so3",
    "e",
    "e2",
    "e3",
    "se",
    "se2",
    "se3",
    "translation",
    "scaling",
    "symmetric",
    "product",
]
