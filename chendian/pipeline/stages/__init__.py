"""One file per stage of the nightly batch, named as `chendian stage <name>` names it."""
