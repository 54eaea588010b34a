"""Quality evaluation against labelled data (`chendian eval …`)."""
