"""The node's side: the DICOM server and the service class providers it runs."""
