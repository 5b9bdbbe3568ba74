"""Real DICOM peers for tests, started on loopback: Orthanc, DCMTK's storescp,
pixelmed's server and pynetdicom's qrscp and storescp."""
