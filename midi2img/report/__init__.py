"""Reports of an analysis: the terminal table (:mod:`.text`), the HTML page of one track
(:mod:`.html`) and the index page of a batch (:mod:`.index`)."""
