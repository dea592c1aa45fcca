"""Monte Carlo fp32 rounding-error budget of a float64 PyTorch model, for the tolerances of the parity tests.

In float64 runs of the model, every fp32 rounding of a length-k reduction is replaced by a random error
sqrt(k) * u * z * mag, u = 2**-24, z ~ N(0, 1). The float64 run itself is exact to ~1e-16, so over S perturbed runs the
RMS distance of each output from the unperturbed run, sigma, is the error an fp32 implementation makes through this
network (its conditioning measured, not assumed), whatever its summation order, SIMD width or FMA use; an fp32
result within LAMBDA * sigma of float64 is within budget.
Why mag: in the probabilistic model of Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019) each rounding is an
independent mean-zero relative error of at most u (mean square u^2 / 3), so a sum s_k = t_1 + ... + t_k computed in
any order has an error of variance at most (u^2 / 3) sum_j s_j^2 over its partial sums. For terms of mean m and
spread v (per term) E s_j^2 = j^2 m^2 + j v, so the variance is below k u^2 (y^2 + ||t||_2^2) / 3 with y = s_k the
result and ||t||_2 the terms' 2-norm: mag = sqrt(y^2 + ||t||_2^2) overstates it (by 1.7x or more) for terms of any
signs; blocked, pairwise or FMA kernels have smaller partial sums and round less. (Their worst-case-probabilistic
bound, relative to sum |t_i|, is sqrt(k) times looser still for terms of mixed signs.) For a convolution ||t||_2 is
the same convolution of x^2 and w^2. onnxruntime's graph rewrites (BatchNorm folded into conv weights, fused
activations) add O(u) per weight: the k + 2 below covers them. Elementwise steps are modelled as k = c^2 (c roundings
relative to mag = sum |terms|).

Usage (a model's own code can call `fp32` for functional steps hooks do not see):
    budget = Fp32Budget(seed)
    budget.instrument(model64)
    exact, sigma = budget.sigma(model64, x64, samples)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

U = 2.0 ** -24
# accuracy taken for fp32 elementary functions (exp, log, ...), in units of u (as test/helpers/fp32-bounds.ts)
ELEMENTARY_ULPS = 8
# Samples per budget (each one float64 forward of the model) and the multiple of sigma allowed. sigma from 8 samples
# is itself uncertain: |error| / sigma follows Student's t with 8 degrees of freedom, P(|t_8| > 10) ~ 1e-5 per
# element; callers floor each sigma at the median over the model's outputs (estimated from all of them, so far
# more certain), which leaves that tail only for outputs whose error is well above the typical one.
SAMPLES = 8
LAMBDA = 10.0
# fp32's smallest normal number: kernels may flush results below it to zero, an absolute error no sum |terms| scales
F32_TINY = 2.0 ** -126

_active = None


def fp32(t, k, mag):
    """t with the random error of an fp32 reduction of length k over terms of total magnitude mag (a tensor, or a
    function computing it, called on the unperturbed run only), when sampling."""
    return _active.perturb(t, k, mag) if _active is not None else t


def _pool(m, x):
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return F.adaptive_avg_pool2d(x, m.output_size)
    return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad)


def _mag(y, sq):
    """sqrt(y^2 + ||t||_2^2) from the result and the sum of its squared terms."""
    return torch.sqrt(y * y + sq)


def _window(m, x):
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return x.shape[-1] * x.shape[-2]  # a bound: the output size is 1 in our models
    k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
    return k[0] * k[1]


class Fp32Budget:
    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)
        self.sampling = False
        # each perturbation's size, recorded in call order by the unperturbed run and reused by the samples (the
        # magnitudes move by O(u) between runs): one forward per sample instead of two
        self.sizes = []
        self.calls = 0
        # perturb each value as it is computed (for runs that cannot be batched, such as training steps)
        self.direct = False

    def _size(self, t, k, mag):
        # a constant of the run: no gradient flows through the size of a rounding error
        with torch.no_grad():
            mag = mag() if callable(mag) else mag
            return torch.sqrt(torch.as_tensor(k, dtype=t.dtype)) * U * mag.detach() + F32_TINY

    def perturb(self, t, k, mag):
        if self.direct:
            return t + torch.randn(t.shape, generator=self.gen, dtype=t.dtype) * self._size(t, k, mag)
        if not self.sampling:
            self.sizes.append(self._size(t, k, mag))
            return t
        size = self.sizes[self.calls]
        self.calls += 1
        # the samples run as one batch of `reps` copies: the recorded size repeats along the leading dimension
        size = size.repeat((t.shape[0] // size.shape[0],) + (1,) * (size.dim() - 1)) if size.dim() > 0 else size
        return t + torch.randn(t.shape, generator=self.gen, dtype=t.dtype) * size

    def instrument(self, net):
        """Forward hooks on the reductions of `net`: convolutions, Linear, eval BatchNorm, average pools."""
        global _active
        _active = self
        conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}

        def hook(m, inp, out):
            x = inp[0]
            if type(m) in conv:
                b = m.bias * m.bias if m.bias is not None else None
                sq = lambda: conv[type(m)](x * x, m.weight * m.weight, b, m.stride, m.padding, m.dilation, m.groups)  # noqa: E731
                return self.perturb(out, m.weight[0].numel() + (m.bias is not None) + 2, lambda: _mag(out, sq()))
            if isinstance(m, nn.Linear):
                b = m.bias * m.bias if m.bias is not None else None
                return self.perturb(out, m.in_features + (m.bias is not None) + 2, lambda: _mag(out, F.linear(x * x, m.weight * m.weight, b)))
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training:
                shape = (1, -1) + (1,) * (x.dim() - 2)
                scale = (m.weight.abs() / torch.sqrt(m.running_var + m.eps)).view(shape)
                return self.perturb(out, 4 ** 2, lambda: (x.abs() + m.running_mean.abs().view(shape)) * scale + m.bias.abs().view(shape))
            if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
                # the terms are x / n: their squares sum to pool(x^2) / n, taken as pool(x^2) (n >= 1)
                return self.perturb(out, _window(m, x) + 2, lambda: _mag(out, _pool(m, x * x)))
            return out

        for m in net.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
                m.register_forward_hook(hook)
        return net

    def instrument_training(self, m):
        """`instrument` plus what a training step adds: BatchNorm on batch statistics (and its running averages),
        every backward sum (input gradients, k = the fan-out each sums) and, through `after_backward`, the parameter
        gradients (k = batch x positions). Backward perturbations are relative to the result: callers floor sigma
        at the tensor's median, which covers elements whose value cancels to near zero."""
        self.instrument(m)
        self.reductions = {}  # module -> length of the sums its parameter gradients are
        self.pending = []  # running-average roundings, applied after backward (autograd saved the buffers)

        def bn_forward(mod, inp, out):
            if not mod.training:
                return out
            x = inp[0]
            n = x.numel() // x.shape[1]
            self.reductions[mod] = n
            dims = [0] + list(range(2, x.dim()))
            shape = (1, -1) + (1,) * (x.dim() - 2)
            with torch.no_grad():
                mean = x.mean(dims)
                var = x.var(dims, unbiased=False)
                msq = (x * x).mean(dims)

            def running():
                # the running averages took the batch mean and variance: sums of n terms, then 2 roundings each
                if mod.track_running_stats and mod.running_mean is not None:
                    mom = mod.momentum if mod.momentum is not None else 1.0
                    mod.running_mean.copy_(fp32(mod.running_mean, n + 9, mod.running_mean.abs() + mom * msq.sqrt()))
                    mod.running_var.copy_(fp32(mod.running_var, n + 9, mod.running_var.abs() + mom * msq * n / (n - 1)))

            self.pending.append(running)
            mag = lambda: (x.abs() + mean.abs().view(shape)) * (mod.weight.abs() / torch.sqrt(var + mod.eps)).view(shape) + mod.bias.abs().view(shape)  # noqa: E731
            return fp32(out, n + 16, mag)

        def conv_forward(mod, inp, out):
            self.reductions[mod] = out.numel() // out.shape[1]
            return out

        def backward(mod, grad_in, grad_out):
            if isinstance(mod, nn.Conv2d):
                k = mod.out_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            elif isinstance(mod, nn.Linear):
                k = mod.out_features
            else:
                k = self.reductions.get(mod, 1) if mod.training else 4
            return tuple(None if g is None else fp32(g, k + 2, g.abs()) for g in grad_in)

        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.register_forward_hook(bn_forward)
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.register_forward_hook(conv_forward)
            if isinstance(mod, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                mod.register_full_backward_hook(backward)
        return m

    def after_backward(self, m, batch):
        """The running averages' and the parameter gradients' roundings (call under no_grad after backward)."""
        for update in self.pending:
            update()
        self.pending.clear()
        for mod in m.modules():
            for p in mod.parameters(recurse=False):
                if p.grad is not None:
                    k = self.reductions.get(mod, 1) if isinstance(mod, (nn.Conv2d, nn.BatchNorm2d)) else batch
                    p.grad.copy_(fp32(p.grad, k + 2, p.grad.abs()))

    def sigma(self, model, x, samples=SAMPLES):
        """(exact, sigma): `model(x)` in float64, and the RMS of its perturbed outputs' distance from it. The samples
        run as one batch of `samples` copies of x, so the model must keep its batch dimension first throughout."""
        global _active
        _active = self
        with torch.no_grad():
            self.sampling = False
            self.sizes = []
            exact = model(x)
            self.sampling = True
            self.calls = 0
            noisy = model(x.repeat((samples,) + (1,) * (x.dim() - 1))).view((samples,) + exact.shape)
            self.sampling = False
        return exact, torch.sqrt(((noisy - exact) ** 2).mean(0))
