"""Real DICOM peers for tests: Orthanc and DCMTK's storescp, started on loopback."""
