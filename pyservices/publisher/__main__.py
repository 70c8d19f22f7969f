from pyservices.publisher import main

main.main()
