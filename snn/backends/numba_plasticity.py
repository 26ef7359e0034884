"""How plastic projections are assembled into the numba run loop, whatever the mechanism.

A plasticity mechanism runs on the numba backend through an implementation registered with
``@implements(Mechanism, "numba")`` (a subclass of :class:`NumbaPlasticity`). It contributes
arrays (``arrays``) and code fragments that this module places around the projection's
spike delivery; the backend never names a mechanism. Fragment tokens:

* ``@name``: one of the mechanism's own arrays or constants (from ``arrays``); ``%name``: a
  local private to the mechanism;
* ``$k`` the step, ``$i`` the presynaptic neuron, ``$j`` the postsynaptic neuron, ``$q`` the
  synapse (index into the CSR weight array), ``$w`` that synapse's weight;
* ``@w`` the weight array, ``@indptr``/``@indices`` the CSR arrays, ``@cptr``/``@csyn``/
  ``@cpre`` the CSC index (column pointers by post neuron, synapse index and pre neuron of
  each entry), ``@pre_spikes``/``@pre_nspikes`` and ``@post_spikes``/``@post_nspikes`` the
  spikes of this step, ``@n_pre``/``@n_post`` the population sizes.

Order in step ``k`` (after every population has updated): for each presynaptic spike,
``pre_row``, then for each synapse of the row the weight is delivered and ``pre_synapse``
runs; then for each postsynaptic spike ``post_neuron`` and, per synapse into it,
``post_synapse``; then ``after`` (trace jumps, periodic work).
"""

from __future__ import annotations

import re

from snn.backends import implementation_for
from snn.backends.common import csc_index, mechanisms, render_fragment


class NumbaPlasticity:
    """Base class of a plasticity mechanism's numba implementation (all fragments optional)."""

    def arrays(self, mech, proj, n_pre: int, n_post: int, dt: float) -> dict[str, object]:
        """The mechanism's arrays and scalar constants, by token name (``@name``)."""
        return {}

    def pre_row(self, mech) -> str:
        """Once per presynaptic spike, before its row (``$i``)."""
        return ""

    def pre_synapse(self, mech) -> str:
        """Per synapse ``$q`` (post ``$j``) of a presynaptic spike's row, after delivery."""
        return ""

    def post_neuron(self, mech) -> str:
        """Once per postsynaptic spike (``$j``), before the synapses into it."""
        return ""

    def post_synapse(self, mech) -> str:
        """Per synapse ``$q`` (pre ``$i``) into a postsynaptic neuron that fired."""
        return ""

    def after(self, mech) -> str:
        """Once per step, after every update of this projection."""
        return ""

    def populations(self, mech) -> dict[str, str]:
        """Other populations whose spikes the fragments read, as ``{token: population name}``
        (``@token_spikes``, ``@token_nspikes``)."""
        return {}

    def finish(self, mech, arrays: dict, k: int) -> None:
        """Called between runs with the mechanism's arrays (and ``"w"``), at step ``k``."""

    def set_modulator(self, mech, arrays: dict, k: int, value: float) -> None:
        """Set the mechanism's modulator at step ``k`` (mechanisms without one ignore it)."""


def plastic_delivery(x: int, proj, n_pre: int, n_post: int, dt: float, add_arg, weights: str,
                     indptr: str, indices: str, spikes_of: dict, deliver: str
                     ) -> tuple[str, str, list]:
    """Code of a plastic projection: ``(deliver_and_pre, post_and_after, runtime)``.

    ``add_arg(name, value)`` adds a kernel argument and returns its name; ``weights``,
    ``indptr`` and ``indices`` are the argument names of the projection's arrays;
    ``spikes_of`` maps each population's index and name to its spike list and count as
    ``"spk0,nsp0"``;
    ``deliver`` is the backend's code (unindented) that delivers synapse ``q``'s weight.
    ``runtime`` lists ``(implementation, mechanism, arrays)`` for the calls between runs
    (``finish``, ``set_modulator``); ``arrays`` holds the mechanism's arrays and ``"w"``.
    """
    pre, post = spikes_of[proj.pre], spikes_of[proj.post]
    cptr, csyn, cpre = csc_index(proj.indptr, proj.indices, n_post)
    base = {
        "$k": "k", "$i": "i", "$j": "j", "$q": "q", "$w": f"{weights}[q]", "@w": weights,
        "@indptr": indptr, "@indices": indices,
        "@cptr": add_arg(f"X{x}_cptr", cptr), "@csyn": add_arg(f"X{x}_csyn", csyn),
        "@cpre": add_arg(f"X{x}_cpre", cpre),
        "@pre_spikes": pre.split(",")[0], "@pre_nspikes": pre.split(",")[1],
        "@post_spikes": post.split(",")[0], "@post_nspikes": post.split(",")[1],
        "@n_pre": str(n_pre), "@n_post": str(n_post),
    }
    parts = {key: [] for key in ("pre_row", "pre_synapse", "post_neuron", "post_synapse", "after")}
    runtime = []
    for m, mech in enumerate(mechanisms(proj.plasticity)):
        impl = implementation_for(mech, "numba")
        mapping = dict(base)
        arrays = impl.arrays(mech, proj, n_pre, n_post, dt)
        for name, value in arrays.items():
            mapping[f"@{name}"] = add_arg(f"X{x}M{m}_{name}", value)
        for token, pop_name in impl.populations(mech).items():
            if pop_name not in spikes_of:
                raise ValueError(f"{type(mech).__name__} on projection {proj.name!r} reads the "
                                 f"population {pop_name!r}, which is not in the network")
            spk, nsp = spikes_of[pop_name].split(",")
            mapping[f"@{token}_spikes"], mapping[f"@{token}_nspikes"] = spk, nsp
        runtime.append((impl, mech, {**arrays, "w": proj.weights}))
        texts = {key: getattr(impl, key)(mech) for key in parts}
        for local in set(re.findall(r"%(\w+)", "\n".join(texts.values()))):
            mapping[f"%{local}"] = f"x{x}m{m}_{local}"
        for key, text in texts.items():
            if text.strip():
                parts[key].append(render_fragment(text, mapping, 0))

    def join(key: str, indent: int) -> str:
        pad = " " * indent
        return "\n".join(pad + line for text in parts[key] for line in text.splitlines())

    spk, nsp = pre.split(",")
    deliver_code = (f"for s in range({nsp}):\n"
                    f"    i = {spk}[s]\n"
                    + (join("pre_row", 4) + "\n" if parts["pre_row"] else "")
                    + f"    for q in range({indptr}[i], {indptr}[i + 1]):\n"
                    + "\n".join("        " + line for line in deliver.splitlines()) + "\n"
                    + f"        j = {indices}[q]\n"
                    + (join("pre_synapse", 8) if parts["pre_synapse"] else "        pass"))
    pspk, pnsp = post.split(",")
    post_code = ""
    if parts["post_neuron"] or parts["post_synapse"]:
        post_code = (f"for s in range({pnsp}):\n"
                     f"    j = {pspk}[s]\n"
                     + (join("post_neuron", 4) + "\n" if parts["post_neuron"] else "")
                     + f"    for cc in range({base['@cptr']}[j], {base['@cptr']}[j + 1]):\n"
                     f"        q = {base['@csyn']}[cc]\n"
                     f"        i = {base['@cpre']}[cc]\n"
                     + (join("post_synapse", 8) if parts["post_synapse"] else "        pass")
                     + "\n")
    post_code += join("after", 0)
    return deliver_code, post_code, runtime


__all__ = ["NumbaPlasticity", "plastic_delivery"]
