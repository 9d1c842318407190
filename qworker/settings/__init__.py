"""``qworker run``'s settings: declared once (:mod:`.schema`), read from the command line
(:mod:`.cli`) and files (:mod:`.sources`, :mod:`.values`), combined (:mod:`.layers`) and
reported by ``qworker check`` (:mod:`.report`)."""
