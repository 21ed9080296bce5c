import sys

from rag_rerankers.cli import main

sys.exit(main())
