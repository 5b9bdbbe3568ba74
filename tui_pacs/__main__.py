from tui_pacs.cli import main

raise SystemExit(main())
