import pytest

from tui_pacs.config import StorageConfig
from tui_pacs.store.archive import Archive


@pytest.fixture
async def archive(data_dir):
    archive = await Archive.open(data_dir, StorageConfig(min_free_mb=0))
    yield archive
    await archive.close()
