"""The roles the report singles out, by role and never by codec name: a codec declares which of its
configurations play them (`register_codec(roles=...)`, checked there for well-formed patterns), and
`unknown_roles` names any role a registered codec declares that the report does not know (`bench
list` fails on one, and a test keeps the registry clean)."""

from __future__ import annotations

ROLES = {
    "writeup-autoencoder": "the autoencoder at the write-up's settings (its 95% and 99% latents): the series "
                           "of the report's per-digit error and t-SNE figures",
    "uncoded-ceiling": "codes the images unchanged (the image codecs' ceiling row); its accuracy stands for the "
                "full data's when no `dataset-ceiling` row has one",
    "dataset-ceiling": "keeps the whole training set (the dataset codecs' ceiling row); its accuracy is the "
                       "full-data accuracy every codec is judged against",
}
#: Roles renamed since tables were committed: a row's old name is read as the new one.
RENAMED_ROLES = {"identity": "uncoded-ceiling"}  # "identity" is also a codec's content key (api/identity.py)
AUTOENCODER_ROLE = "writeup-autoencoder"  # the per-digit error and t-SNE figures
CEILING_ROLES = ("dataset-ceiling", "uncoded-ceiling")  # whose accuracy is the full-data accuracy, in this order


def unknown_roles() -> list[str]:
    """`codec: role` for every declared role the report does not know (a typo in `roles=`)."""
    from bench.api.registry import get_entry, list_codecs

    return [f"{name}: unknown role {role!r}; known roles: {', '.join(ROLES)}"
            for name in list_codecs() for role in get_entry(name).roles if role not in ROLES]
