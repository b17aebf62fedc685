"""fgsm-at: FGSM adversarial training with a random start (Wong, Rice & Kolter 2020, 'Fast is better
than free: Revisiting adversarial training').

Inner step: delta ~ U(-eps, eps) per pixel, one signed-gradient step of size alpha on CE, projection
onto the Linf ball and [0,1]; outer loss: CE on x + delta. The model stays in train mode for the step,
as in the paper's code (locuslab/fast_adversarial, train_fgsm.py); float32 under mixed precision. Paper defaults: eps 8/255 with alpha 1.25 * eps = 10/255 on CIFAR-10, eps 0.3
with alpha 0.375 on MNIST; here eps defaults to the dataset's Linf budget and alpha to 1.25 * eps.
The paper trains with a one-cycle learning rate (train_fgsm.py's CyclicLR, train_mnist.py's np.interp):
15 epochs, peak 0.2 on CIFAR-10 (PreAct ResNet-18), 10 epochs, Adam peak 5e-3 on MNIST (mnist_net.py);
models/fgsm-at.yaml gives it as ``schedule: cyclic`` with its ``peak`` (its momentum cycling and apex fp16
are not reproduced; the card says so). The digits and fashion-mnist cards use a cosine decay.
"""
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe, eps_field
from bench.recipes._pgd import pgd_linf
from bench.suite.yamlio import Field, parse


@RECIPES.register("fgsm-at")
class FGSMAT(Recipe):
    name = "fgsm-at"
    paper = "Wong et al. 2020, Fast is better than free: Revisiting adversarial training (ICLR)"
    params = {
        "eps": eps_field(),
        "alpha": Field("float", None, lo=0.0, hi=1.0),  # None: 1.25 * eps
    }

    @classmethod
    def resolve(cls, args, info, field="args", where=None):
        out = parse(args or {}, cls.params, field, where)
        if out["eps"] is None:
            out["eps"] = float(info.eps["linf"])
        if out["alpha"] is None:
            out["alpha"] = 1.25 * out["eps"]
        return out

    def loss(self, model, x, y, state):
        a = self.args
        adv = pgd_linf(model, x, y, a["eps"], a["alpha"], 1, random_start="uniform", eval_mode=False)
        logits = model(adv)
        return F.cross_entropy(logits, y), logits
